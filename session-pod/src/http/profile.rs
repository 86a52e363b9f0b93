//! Handlers of the account's own profile and of blocking.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request};
use axum::http::{StatusCode, header};
use base64::Engine as _;
use wagate_api::{
    ApiError, Blocklist, ErrorCode, PictureUpload, Profile, ProfileUpdate, parse_contact,
};
use wagate_http::ApiJson;

use super::SessionHandle;
use crate::profile_picture::PICTURE_MAX_BYTES;

/// This account as others see it: number, LID, name, about and picture.
#[utoipa::path(get, path = "/v1/sessions/{id}/profile", tag = "profile", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), responses((status = 200, body = wagate_api::Profile), super::openapi::ErrorResponses))]
pub async fn profile(SessionHandle(session): SessionHandle) -> Result<Json<Profile>, ApiError> {
    Ok(Json(session.profile().await?))
}

/// Changes the name others see (1-25 characters) and/or the about text (0-139).
#[utoipa::path(patch, path = "/v1/sessions/{id}/profile", tag = "profile", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), request_body = wagate_api::ProfileUpdate, responses((status = 200, body = wagate_api::Profile), super::openapi::ErrorResponses))]
pub async fn update_profile(
    SessionHandle(session): SessionHandle,
    ApiJson(body): ApiJson<ProfileUpdate>,
) -> Result<Json<Profile>, ApiError> {
    body.validate()?;
    Ok(Json(session.update_profile(&body).await?))
}

/// Sets the profile picture: a JPEG or PNG as the body (`Content-Type: image/jpeg` or
/// `image/png`), or JSON `{ data: base64 }`. The gateway crops the centre square and sizes
/// it to 640 × 640 as WhatsApp's apps do.
#[utoipa::path(put, path = "/v1/sessions/{id}/profile/picture", tag = "profile", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), request_body(content((wagate_api::PictureUpload = "application/json"), (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"))), responses((status = 200, body = wagate_api::Profile), super::openapi::ErrorResponses))]
pub async fn set_picture(
    SessionHandle(session): SessionHandle,
    request: Request,
) -> Result<Json<Profile>, ApiError> {
    let image = picture_bytes(request).await?;
    Ok(Json(session.set_profile_picture(image).await?))
}

/// Removes the profile picture.
#[utoipa::path(delete, path = "/v1/sessions/{id}/profile/picture", tag = "profile", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), responses((status = 204, description = "Removed"), super::openapi::ErrorResponses))]
pub async fn remove_picture(SessionHandle(session): SessionHandle) -> Result<StatusCode, ApiError> {
    session.remove_profile_picture().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The image of a picture upload, however it came.
async fn picture_bytes(request: Request) -> Result<Vec<u8>, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("A picture may be at most {PICTURE_MAX_BYTES} bytes"),
        )
    };
    match content_type.as_str() {
        "application/json" => {
            let ApiJson(upload) = ApiJson::<PictureUpload>::from_request(request, &()).await?;
            let image = base64::engine::general_purpose::STANDARD
                .decode(upload.data.trim())
                .map_err(|_| ApiError::field("data", "must be base64"))?;
            if image.len() > PICTURE_MAX_BYTES {
                return Err(too_large());
            }
            Ok(image)
        }
        "image/jpeg" | "image/png" => {
            let body = Bytes::from_request(request, &())
                .await
                .map_err(|_| too_large())?;
            if body.len() > PICTURE_MAX_BYTES {
                return Err(too_large());
            }
            Ok(body.to_vec())
        }
        _ => Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "Send the picture as image/jpeg, image/png or application/json { data: base64 }",
        )),
    }
}

/// Blocks someone: they can no longer message or call this number. Answers the blocklist.
#[utoipa::path(post, path = "/v1/sessions/{id}/contacts/{phone_or_jid}/block", tag = "contacts", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)"), ("phone_or_jid" = String, Path, description = "Phone number with country code, or a `...@s.whatsapp.net` / `...@lid` JID")), responses((status = 200, body = wagate_api::Blocklist), super::openapi::ErrorResponses))]
pub async fn block(
    SessionHandle(session): SessionHandle,
    Path((_, who)): Path<(String, String)>,
) -> Result<Json<Blocklist>, ApiError> {
    let who = parse_contact(&who)?;
    Ok(Json(session.set_blocked(&who, true).await?))
}

/// Unblocks someone. Answers the blocklist.
#[utoipa::path(delete, path = "/v1/sessions/{id}/contacts/{phone_or_jid}/block", tag = "contacts", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)"), ("phone_or_jid" = String, Path, description = "Phone number with country code, or a `...@s.whatsapp.net` / `...@lid` JID")), responses((status = 200, body = wagate_api::Blocklist), super::openapi::ErrorResponses))]
pub async fn unblock(
    SessionHandle(session): SessionHandle,
    Path((_, who)): Path<(String, String)>,
) -> Result<Json<Blocklist>, ApiError> {
    let who = parse_contact(&who)?;
    Ok(Json(session.set_blocked(&who, false).await?))
}

/// Who this account blocks.
#[utoipa::path(get, path = "/v1/sessions/{id}/blocklist", tag = "contacts", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), responses((status = 200, body = wagate_api::Blocklist), super::openapi::ErrorResponses))]
pub async fn blocklist(SessionHandle(session): SessionHandle) -> Result<Json<Blocklist>, ApiError> {
    Ok(Json(session.blocklist().await?))
}
