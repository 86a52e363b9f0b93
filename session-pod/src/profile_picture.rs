//! Profile pictures as WhatsApp shows them: a square JPEG of at most 640 × 640. The library
//! sends the bytes it is given verbatim, so the gateway crops and resizes; a caller's image
//! is untrusted, so it is bounded in bytes, in pixels and in decoder memory before it is
//! decoded.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{ImageFormat, ImageReader, Limits};

/// The largest upload taken (a phone's camera JPEG is a few MiB).
pub const PICTURE_MAX_BYTES: usize = 10 * 1024 * 1024;
/// The side WhatsApp's apps upload; larger pictures are scaled down to it.
const SIDE: u32 = 640;
/// Smaller than this and WhatsApp's apps refuse the picture.
const MIN_SIDE: u32 = 192;
/// Bounds on what the decoder may be made to allocate (a small PNG can claim huge sides):
/// with the resize's working buffers a picture costs at most ~3x this, well inside a
/// session pod's memory. Pictures are prepared one at a time (`session::profile`).
const MAX_DIMENSION: u32 = 4096;
const MAX_DECODE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PictureError {
    #[error("must be at most {PICTURE_MAX_BYTES} bytes")]
    TooLarge,
    #[error("must be a JPEG or PNG image")]
    NotAnImage,
    #[error("must be at least {MIN_SIDE}×{MIN_SIDE} pixels and at most {MAX_DIMENSION} on a side")]
    BadSize,
}

/// `bytes` (JPEG or PNG) as WhatsApp's profile picture: the centre square, at most 640 px a
/// side, as a JPEG.
pub fn prepare(bytes: &[u8]) -> Result<Vec<u8>, PictureError> {
    if bytes.len() > PICTURE_MAX_BYTES {
        return Err(PictureError::TooLarge);
    }
    let format = image::guess_format(bytes).map_err(|_| PictureError::NotAnImage)?;
    if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png) {
        return Err(PictureError::NotAnImage);
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let decoded = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => PictureError::BadSize,
        _ => PictureError::NotAnImage,
    })?;
    let side = decoded.width().min(decoded.height());
    if side < MIN_SIDE {
        return Err(PictureError::BadSize);
    }
    // Resized through a view of the centre square: no full-size copy is made.
    let square = image::imageops::crop_imm(
        &decoded,
        (decoded.width() - side) / 2,
        (decoded.height() - side) / 2,
        side,
        side,
    );
    let sized = if side > SIDE {
        image::imageops::resize(&*square, SIDE, SIDE, FilterType::CatmullRom)
    } else {
        square.to_image()
    };
    drop(decoded);
    let mut jpeg = Vec::new();
    image::DynamicImage::ImageRgba8(sized)
        .to_rgb8()
        .write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
        .map_err(|_| PictureError::NotAnImage)?;
    Ok(jpeg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, RgbImage};

    fn encoded(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
        let image = DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, _| {
            image::Rgb([(x % 256) as u8, 0, 0])
        }));
        let mut out = Vec::new();
        image.write_to(&mut Cursor::new(&mut out), format).unwrap();
        out
    }

    fn dimensions(jpeg: &[u8]) -> (u32, u32) {
        let image = image::load_from_memory_with_format(jpeg, ImageFormat::Jpeg).unwrap();
        (image.width(), image.height())
    }

    #[test]
    fn pictures_become_square_jpegs_of_whatsapps_size() {
        let wide = prepare(&encoded(1600, 900, ImageFormat::Png)).unwrap();
        assert_eq!(dimensions(&wide), (640, 640));
        let small = prepare(&encoded(300, 400, ImageFormat::Jpeg)).unwrap();
        assert_eq!(dimensions(&small), (300, 300));
    }

    #[test]
    fn what_is_not_a_usable_picture_is_refused() {
        assert_eq!(prepare(b"not an image"), Err(PictureError::NotAnImage));
        assert_eq!(
            prepare(&encoded(100, 100, ImageFormat::Png)),
            Err(PictureError::BadSize)
        );
        assert_eq!(
            prepare(&vec![0u8; PICTURE_MAX_BYTES + 1]),
            Err(PictureError::TooLarge)
        );
        // A PNG header claiming a huge image is refused before anything is allocated.
        let mut bomb = encoded(200, 200, ImageFormat::Png);
        bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(prepare(&bomb).is_err());
    }
}
