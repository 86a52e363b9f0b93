//! The OpenAPI description of the per-session routes, generated from the handlers'
//! annotations. The router merges it with its own routes into `/openapi.json`.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use wagate_api::ErrorBody;

/// The error answers any route may give, each with the contract's error body.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum ErrorResponses {
    #[response(
        status = 400,
        description = "`validation_error`, with `details` per field"
    )]
    BadRequest(ErrorBody),
    #[response(status = 401, description = "`unauthorized`: no API key")]
    Unauthorized(ErrorBody),
    #[response(
        status = 403,
        description = "`forbidden`: unknown key, or not allowed for this session"
    )]
    Forbidden(ErrorBody),
    #[response(
        status = 404,
        description = "`session_not_found`, `message_not_found`, `qr_not_available`, `number_not_on_whatsapp`"
    )]
    NotFound(ErrorBody),
    #[response(status = 409, description = "`conflict`")]
    Conflict(ErrorBody),
    #[response(status = 413, description = "`payload_too_large`")]
    PayloadTooLarge(ErrorBody),
    #[response(status = 415, description = "`unsupported_media_type`")]
    UnsupportedMediaType(ErrorBody),
    #[response(status = 429, description = "`rate_limited`, with `Retry-After`")]
    RateLimited(ErrorBody),
    #[response(status = 500, description = "`internal`")]
    Internal(ErrorBody),
    #[response(
        status = 503,
        description = "`session_not_ready` or `upstream_unavailable`, with `Retry-After`"
    )]
    Unavailable(ErrorBody),
}

/// Declares `Authorization: Bearer` and `x-api-key`, either of which authenticates.
pub struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "wagate", description = "Self-hosted multi-session WhatsApp gateway"),
    paths(
        super::records::get_session,
        super::records::delete_session,
        super::handlers::logout,
        super::handlers::restart,
        super::qr::get_qr,
        super::records::create_link,
        super::handlers::pair_code,
        super::handlers::send,
        super::handlers::list_messages,
        super::handlers::stats,
        super::handlers::message_status,
        super::handlers::react,
        super::handlers::edit_message,
        super::handlers::revoke,
        super::handlers::mark_read,
        super::handlers::chat_presence,
        super::handlers::presence,
        super::handlers::check_numbers,
        super::handlers::groups,
        super::groups::create_group,
        super::groups::group_info,
        super::groups::update_group,
        super::groups::participants,
        super::groups::invite_link,
        super::groups::revoke_invite_link,
        super::groups::join_group,
        super::groups::leave_group,
        super::contacts::contact,
        super::contacts::lid,
        super::profile::block,
        super::profile::unblock,
        super::profile::blocklist,
        super::profile::profile,
        super::profile::update_profile,
        super::profile::set_picture,
        super::profile::remove_picture,
        super::records::put_webhook,
        super::records::put_settings,
        super::records::delete_webhook,
        super::handlers::pending_deliveries,
        super::handlers::dead_letters,
        super::handlers::replay_dead_letters,
        super::sse::events,
        super::handlers::media,
    ),
    // The `data` of each event kind (webhooks and SSE), besides the envelope.
    components(schemas(
        ErrorBody,
        wagate_api::GatewayEvent,
        wagate_api::EventKind,
        wagate_api::SessionStatusData,
        wagate_api::InboundMessageData,
        wagate_api::ReactionData,
        wagate_api::EditedData,
        wagate_api::RevokedData,
        wagate_api::PollVoteData,
        wagate_api::ChatPresenceData,
        wagate_api::GroupParticipantsData,
        wagate_api::GroupUpdatedData,
        wagate_api::CallReceivedData,
    )),
    modifiers(&Security),
    security(("bearer" = []), ("apiKey" = [])),
    tags((name = "sessions", description = "One session: status, linking, lifecycle"),
         (name = "messages", description = "Sending and delivery status"),
         (name = "groups", description = "Creating and administering groups"),
         (name = "contacts", description = "Who someone is on WhatsApp; LID to phone; blocking"),
         (name = "profile", description = "This account's own name, about text and picture"),
         (name = "webhooks", description = "Per-session webhook and dead letters"),
         (name = "events", description = "Server-Sent Events"))
)]
pub struct SessionApiDoc;
