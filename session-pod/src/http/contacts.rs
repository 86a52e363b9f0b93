//! Handlers of the contact routes: who someone is on WhatsApp, and LID → phone.

use axum::Json;
use axum::extract::Path;
use wagate_api::{ApiError, ContactInfo, LidInfo, parse_contact, parse_lid};

use super::SessionHandle;

/// What WhatsApp shows of a person: parts their privacy settings hide are `null`.
#[utoipa::path(get, path = "/v1/sessions/{id}/contacts/{phone_or_jid}", tag = "contacts", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)"), ("phone_or_jid" = String, Path, description = "Phone number with country code, or a `...@s.whatsapp.net` / `...@lid` JID")), responses((status = 200, body = wagate_api::ContactInfo), super::openapi::ErrorResponses))]
pub async fn contact(
    SessionHandle(session): SessionHandle,
    Path((_, who)): Path<(String, String)>,
) -> Result<Json<ContactInfo>, ApiError> {
    let who = parse_contact(&who)?;
    Ok(Json(session.contact(&who).await?))
}

/// The phone number behind a LID (`404 not_found` when WhatsApp does not say).
#[utoipa::path(get, path = "/v1/sessions/{id}/lids/{lid}", tag = "contacts", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)"), ("lid" = String, Path, description = "A LID (`digits@lid`, or its digits)")), responses((status = 200, body = wagate_api::LidInfo), super::openapi::ErrorResponses))]
pub async fn lid(
    SessionHandle(session): SessionHandle,
    Path((_, lid)): Path<(String, String)>,
) -> Result<Json<LidInfo>, ApiError> {
    let lid = parse_lid(&lid)?;
    Ok(Json(session.resolve_lid(&lid).await?))
}
