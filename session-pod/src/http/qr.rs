//! `GET .../qr` in every format, and signed `qr-link`s to its HTML page.

use axum::Json;
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use wagate_api::{ApiError, ErrorCode, QrJson, QrLinkResponse, SessionState};

use super::SessionHandle;
use crate::qr::{self, PageState};
use wagate_http::ApiQuery;

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QrQuery {
    /// png, svg, text, json or html; otherwise chosen by `Accept`.
    format: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Png,
    Svg,
    Text,
    Json,
    Html,
}

fn negotiate(query: Option<&str>, headers: &HeaderMap) -> Result<Format, ApiError> {
    if let Some(format) = query {
        return match format {
            "png" => Ok(Format::Png),
            "svg" => Ok(Format::Svg),
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            "html" => Ok(Format::Html),
            _ => Err(ApiError::field(
                "format",
                "must be one of png, svg, text, json, html",
            )),
        };
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // First listed type we can serve wins; browsers list text/html first.
    for entry in accept.split(',') {
        let format = match entry.split(';').next().unwrap_or("").trim() {
            "image/png" => Format::Png,
            "image/svg+xml" => Format::Svg,
            "text/plain" => Format::Text,
            "application/json" => Format::Json,
            "text/html" => Format::Html,
            _ => continue,
        };
        return Ok(format);
    }
    Ok(Format::Json)
}

fn render_error(e: qr::QrError) -> ApiError {
    ApiError::internal(e.to_string())
}

#[utoipa::path(get, path = "/v1/sessions/{id}/qr", tag = "sessions", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)"), QrQuery), responses((status = 200, description = "The current QR code in the negotiated format", content((wagate_api::QrJson = "application/json"), (Vec<u8> = "image/png"), (String = "image/svg+xml"), (String = "text/plain"), (String = "text/html"))), super::openapi::ErrorResponses))]
pub async fn get_qr(
    SessionHandle(session): SessionHandle,
    ApiQuery(query): ApiQuery<QrQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    super::sse::refuse_if_hidden(&headers)?;
    let format = negotiate(query.format.as_deref(), &headers)?;
    let snap = session.snapshot();
    let live = snap.live_qr(Utc::now()).cloned();
    if format == Format::Html {
        let page = match (&live, snap.status) {
            (_, SessionState::Connected) => PageState::Linked {
                phone: snap.phone.as_deref(),
            },
            (Some(qr), _) => PageState::Qr { payload: &qr.code },
            (None, status) => PageState::Waiting {
                status: status.as_str(),
            },
        };
        let html = qr::html_page(session.id(), page).map_err(render_error)?;
        return Ok(([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response());
    }
    if snap.status == SessionState::Connected {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("Session '{}' is already connected", session.id()),
        ));
    }
    let Some(qr) = live else {
        return Err(ApiError::new(
            ErrorCode::QrNotAvailable,
            format!(
                "No QR code for session '{}' right now (status: {})",
                session.id(),
                snap.status
            ),
        ));
    };
    let no_store = (header::CACHE_CONTROL, "no-store");
    Ok(match format {
        Format::Png => (
            [(header::CONTENT_TYPE, "image/png"), no_store],
            qr::png(&qr.code).map_err(render_error)?,
        )
            .into_response(),
        Format::Svg => (
            [(header::CONTENT_TYPE, "image/svg+xml"), no_store],
            qr::svg(&qr.code).map_err(render_error)?,
        )
            .into_response(),
        Format::Text => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                no_store,
            ],
            qr::text(&qr.code).map_err(render_error)?,
        )
            .into_response(),
        Format::Json | Format::Html => {
            let data_url = qr::data_url(&qr.code).map_err(render_error)?;
            (
                [no_store],
                Json(QrJson {
                    qr: qr.code,
                    data_url,
                    expires_at: qr.expires_at,
                }),
            )
                .into_response()
        }
    })
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkQuery {
    /// Lifetime of the link in seconds (30-3600, default 300).
    pub ttl: Option<i64>,
}

/// A signed URL of the session's HTML QR page, valid `ttl` seconds (30-3600, default 300).
/// The router's cluster backend signs links itself, so any replica can verify them.
pub fn signed_qr_link(
    links: &wagate_http::auth::LinkSigner,
    public_url: &str,
    session_id: &str,
    ttl: Option<i64>,
) -> Result<QrLinkResponse, ApiError> {
    let ttl = ttl.unwrap_or(300);
    if !(30..=3600).contains(&ttl) {
        return Err(ApiError::field("ttl", "must be 30-3600 seconds"));
    }
    let expires_at = Utc::now() + chrono::Duration::seconds(ttl);
    let signature = links.sign(session_id, expires_at);
    let url = format!("{public_url}/v1/sessions/{session_id}/qr?format=html&{signature}");
    Ok(QrLinkResponse { url, expires_at })
}
