//! Renders a QR payload as PNG, SVG, terminal text, a data URL and a self-refreshing page.

use base64::Engine as _;
use qrcode::render::{svg, unicode};
use qrcode::{Color, EcLevel, QrCode};

/// Pixels per module and quiet-zone modules of the PNG: large enough for phone cameras.
const PNG_SCALE: usize = 8;
const QUIET_ZONE: usize = 4;

#[derive(Debug, thiserror::Error)]
#[error("cannot render QR code: {0}")]
pub struct QrError(String);

fn matrix(payload: &str) -> Result<QrCode, QrError> {
    QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::L)
        .map_err(|e| QrError(e.to_string()))
}

/// A black-on-white greyscale PNG.
pub fn png(payload: &str) -> Result<Vec<u8>, QrError> {
    let code = matrix(payload)?;
    let width = code.width();
    let side = (width + 2 * QUIET_ZONE) * PNG_SCALE;
    let colors = code.to_colors();
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (mx, my) = (i % width + QUIET_ZONE, i / width + QUIET_ZONE);
        for dy in 0..PNG_SCALE {
            let row = (my * PNG_SCALE + dy) * side;
            pixels[row + mx * PNG_SCALE..row + (mx + 1) * PNG_SCALE].fill(0);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| QrError(e.to_string()))?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| QrError(e.to_string()))?;
    writer.finish().map_err(|e| QrError(e.to_string()))?;
    Ok(out)
}

pub fn svg(payload: &str) -> Result<String, QrError> {
    Ok(matrix(payload)?
        .render::<svg::Color<'_>>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build())
}

/// Half-block characters: scannable straight from a terminal.
pub fn text(payload: &str) -> Result<String, QrError> {
    Ok(matrix(payload)?
        .render::<unicode::Dense1x2>()
        .dark_color(unicode::Dense1x2::Light)
        .light_color(unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

pub fn data_url(payload: &str) -> Result<String, QrError> {
    Ok(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png(payload)?)
    ))
}

/// What the HTML page shows.
pub enum PageState<'a> {
    Qr { payload: &'a str },
    Waiting { status: &'a str },
    Linked { phone: Option<&'a str> },
}

/// A small page for iframes: shows the QR and reloads itself until the session is linked.
pub fn html_page(session_id: &str, state: PageState<'_>) -> Result<String, QrError> {
    let esc = html_escape;
    let (body, refresh) = match state {
        PageState::Qr { payload } => (
            format!(
                "<div class=\"qr\">{}</div><p>Open WhatsApp on your phone → <b>Linked devices</b> → <b>Link a device</b>, then scan.</p>",
                svg(payload)?
            ),
            true,
        ),
        PageState::Waiting { status } => (
            format!("<p>Waiting for a QR code (status: {})…</p>", esc(status)),
            true,
        ),
        PageState::Linked { phone } => (
            format!(
                "<p class=\"ok\">✓ Linked{}</p>",
                phone
                    .map(|p| format!(" as +{}", esc(p)))
                    .unwrap_or_default()
            ),
            false,
        ),
    };
    let refresh_tag = if refresh {
        "<meta http-equiv=\"refresh\" content=\"5\">"
    } else {
        ""
    };
    Ok(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">{refresh_tag}\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>Link WhatsApp – {sid}</title>\
         <style>body{{font-family:system-ui,sans-serif;text-align:center;margin:2em}}\
         .qr svg{{width:min(80vw,320px);height:auto}}.ok{{color:#128c7e;font-size:1.5em}}</style>\
         </head><body><h1>{sid}</h1>{body}</body></html>",
        sid = esc(session_id),
    ))
}

fn html_escape(raw: &str) -> String {
    raw.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_decodes_back_to_the_payload() {
        let payload = "2@abc,def,ghi,jkl";
        let bytes = png(payload).unwrap();
        let decoder = ::png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        let (w, h) = (info.width as usize, info.height as usize);
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1);
        assert_eq!(grids[0].decode().unwrap().1, payload);
    }

    #[test]
    fn page_escapes_and_stops_refreshing_once_linked() {
        let page = html_page(
            "<x>",
            PageState::Linked {
                phone: Some("971501234567"),
            },
        )
        .unwrap();
        assert!(page.contains("&lt;x&gt;") && !page.contains("http-equiv"));
        let page = html_page("s", PageState::Qr { payload: "2@x" }).unwrap();
        assert!(page.contains("<svg") && page.contains("http-equiv=\"refresh\""));
    }
}
