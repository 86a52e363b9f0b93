//! `GET .../events`: Server-Sent Events, starting with the current status (and QR) so a
//! client never has to poll once before listening.

use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::Utc;
use futures::{Stream, StreamExt, stream};
use tokio_stream::wrappers::BroadcastStream;
use wagate_api::{EventKind, GatewayEvent};

use super::SessionHandle;

/// A request header that makes event streams leave out `qr` events. The auth layer sets
/// it for read-only keys (a QR is a credential); it can only hide, never reveal.
pub use wagate_http::auth::HIDE_CREDENTIALS as HIDE_CREDENTIALS_HEADER;

/// A second line behind the router's own check: a request marked as coming from a
/// read-only key never gets a QR, link or pairing code, however its path was spelled.
pub fn refuse_if_hidden(headers: &http::HeaderMap) -> Result<(), wagate_api::ApiError> {
    if headers.contains_key(HIDE_CREDENTIALS_HEADER) {
        Err(wagate_api::ApiError::forbidden(
            "QR and pairing codes need a key that may write",
        ))
    } else {
        Ok(())
    }
}

pub fn to_sse(event: &GatewayEvent) -> Event {
    Event::default()
        .event(event.event.sse_name())
        .json_data(event)
        .unwrap_or_else(|_| Event::default().comment("unserializable event"))
}

#[utoipa::path(get, path = "/v1/sessions/{id}/events", tag = "events", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), responses((status = 200, description = "`text/event-stream` of `status`, `qr`, `message.received`, `message.status`, `message.reaction`, `message.edited`, `message.revoked`, `poll.vote`, `chat.presence`, `group.participants`, `group.updated`, `call.received`", content_type = "text/event-stream", body = String), super::openapi::ErrorResponses))]
pub async fn events(
    SessionHandle(session): SessionHandle,
    headers: http::HeaderMap,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let hide_qr = headers.contains_key(HIDE_CREDENTIALS_HEADER);
    // Subscribe before reading the snapshot so nothing falls between the two.
    let live = BroadcastStream::new(session.subscribe()).filter_map(move |item| async move {
        match item {
            Ok(event) if hide_qr && event.event == EventKind::Qr => None,
            Ok(event) => Some(Ok(to_sse(&event))),
            // A slow reader skipped events; tell it so it can resync with a GET.
            Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                Some(Ok(Event::default().event("lagged").data(n.to_string())))
            }
        }
    });
    let info = session.info().await;
    let mut initial = vec![GatewayEvent {
        event: EventKind::SessionStatus,
        session_id: info.session_id.clone(),
        timestamp: Utc::now(),
        data: serde_json::to_value(&info).expect("serializable"),
    }];
    if let Some(qr) = session.snapshot().live_qr(Utc::now()).filter(|_| !hide_qr) {
        initial.push(GatewayEvent {
            event: EventKind::Qr,
            session_id: info.session_id,
            timestamp: Utc::now(),
            data: serde_json::json!({ "qr": qr.code, "expiresAt": qr.expires_at }),
        });
    }
    let first = stream::iter(initial.into_iter().map(|e| Ok(to_sse(&e))));
    Sse::new(first.chain(live)).keep_alive(KeepAlive::default())
}
