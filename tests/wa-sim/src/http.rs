//! The simulator over HTTP: the WhatsApp socket at `/ws/chat`, and a JSON control API for
//! the phone, the contacts and the faults (for tests in another process or by hand).
//!
//! | route | body → answer |
//! |---|---|
//! | `GET /healthz` | `ok` |
//! | `POST /phone/scan` | `{qr, phone?}` → `{phone, device, lid}` |
//! | `POST /phone/code` | `{phone, code}`: the user types a pairing code |
//! | `POST /phone/unlink` | `{phone, device}` |
//! | `POST /contacts` | `{phone, pushName, businessName?}` |
//! | `POST /contacts/{phone}/messages` | `{to, text}` → `{id}` |
//! | `POST /contacts/{phone}/read` | `{to, id}` |
//! | `POST /groups` | `{subject, members: [{phone, admin}]}` → `{jid}` |
//! | `GET /delivered` | what the phones decrypted |
//! | `GET /receipts` | receipts the client sent |
//! | `POST /faults/drop`, `/faults/stream-error`, `/faults/ban` | `{phone, code?, seconds?}` |
//! | `POST /faults/down` | `{phone, seconds}`: unreachable for a while |
//! | `POST /faults/ack-delay` | `{ms}` |
//! | `POST /faults/handshake-delay` | `{ms}`: every login waits this long |
//! | `GET /logins` | `{inFlight, peak}`: logins at once; `POST /logins/reset-peak` |
//! | `POST /faults/rotate-key` | |

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::world::{Admin, World};

type Shared = State<Arc<World>>;

pub(crate) fn router(world: Arc<World>) -> Router {
    Router::new()
        .route("/ws/chat", any(chat))
        .route("/healthz", get(|| async { "ok" }))
        .route("/phone/scan", post(scan))
        .route("/phone/code", post(enter_code))
        .route("/phone/unlink", post(unlink))
        .route("/contacts", post(add_contact))
        .route("/contacts/{phone}/messages", post(contact_sends))
        .route("/contacts/{phone}/read", post(contact_reads))
        .route("/groups", post(add_group))
        .route("/delivered", get(delivered))
        .route("/receipts", get(receipts))
        .route("/faults/drop", post(drop_connections))
        .route("/faults/down", post(go_down))
        .route("/faults/stream-error", post(stream_error))
        .route("/faults/ban", post(ban))
        .route("/faults/ack-delay", post(ack_delay))
        .route("/faults/handshake-delay", post(handshake_delay))
        .route("/logins", get(logins))
        .route("/logins/reset-peak", post(reset_login_peak))
        .route("/faults/rotate-key", post(rotate_key))
        .with_state(world)
}

async fn chat(State(world): Shared, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| crate::conn::serve(world, socket))
}

fn bad_request(message: impl ToString) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": message.to_string() })),
    )
        .into_response()
}

#[derive(Deserialize)]
struct Scan {
    qr: String,
    phone: Option<String>,
}

async fn scan(State(world): Shared, Json(body): Json<Scan>) -> Response {
    match world.scan(&body.qr, body.phone.as_deref()).await {
        Ok(linked) => Json(linked).into_response(),
        Err(e) => bad_request(e),
    }
}

#[derive(Deserialize)]
struct EnterCode {
    phone: String,
    code: String,
}

async fn enter_code(State(world): Shared, Json(body): Json<EnterCode>) -> Response {
    match world.enter_code(&body.phone, &body.code).await {
        Ok(()) => Json(json!({ "ok": true })).into_response(),
        Err(e) => bad_request(e),
    }
}

#[derive(Deserialize)]
struct DeviceRef {
    phone: String,
    device: u16,
}

async fn unlink(State(world): Shared, Json(body): Json<DeviceRef>) -> Response {
    match world.unlink(&body.phone, body.device).await {
        Ok(()) => Json(json!({ "ok": true })).into_response(),
        Err(e) => bad_request(e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewContact {
    phone: String,
    push_name: String,
    business_name: Option<String>,
}

async fn add_contact(State(world): Shared, Json(body): Json<NewContact>) -> Json<Value> {
    world
        .add_contact(&body.phone, &body.push_name, body.business_name.as_deref())
        .await;
    Json(json!({ "ok": true }))
}

#[derive(Deserialize)]
struct ContactMessage {
    to: String,
    text: String,
}

async fn contact_sends(
    State(world): Shared,
    Path(phone): Path<String>,
    Json(body): Json<ContactMessage>,
) -> Response {
    match world.send_text(&phone, &body.to, &body.text).await {
        Ok(id) => Json(json!({ "id": id })).into_response(),
        Err(e) => bad_request(e),
    }
}

#[derive(Deserialize)]
struct ReadReceipt {
    to: String,
    id: String,
}

async fn contact_reads(
    State(world): Shared,
    Path(phone): Path<String>,
    Json(body): Json<ReadReceipt>,
) -> Json<Value> {
    let devices = world.read(&phone, &body.to, &body.id).await;
    Json(json!({ "devices": devices }))
}

#[derive(Deserialize)]
struct NewGroup {
    subject: String,
    members: Vec<Member>,
}

#[derive(Deserialize)]
struct Member {
    phone: String,
    #[serde(default = "not_admin")]
    admin: Admin,
}

fn not_admin() -> Admin {
    Admin::No
}

async fn add_group(State(world): Shared, Json(body): Json<NewGroup>) -> Json<Value> {
    let members: Vec<(String, Admin)> = body
        .members
        .into_iter()
        .map(|m| (m.phone, m.admin))
        .collect();
    let jid = world.add_group(&body.subject, &members).await;
    Json(json!({ "jid": jid }))
}

async fn delivered(State(world): Shared) -> Json<Value> {
    Json(json!(world.state.lock().await.delivered))
}

async fn receipts(State(world): Shared) -> Json<Value> {
    Json(json!(world.state.lock().await.client_receipts))
}

#[derive(Deserialize)]
struct Fault {
    phone: String,
    code: Option<u16>,
    seconds: Option<u64>,
}

async fn drop_connections(State(world): Shared, Json(body): Json<Fault>) -> Json<Value> {
    Json(json!({ "connections": world.drop_connections(&body.phone).await }))
}

async fn go_down(State(world): Shared, Json(body): Json<Fault>) -> Json<Value> {
    let duration = Duration::from_secs(body.seconds.unwrap_or(5));
    Json(json!({ "connections": world.go_down(&body.phone, duration).await }))
}

async fn stream_error(State(world): Shared, Json(body): Json<Fault>) -> Json<Value> {
    let code = body.code.unwrap_or(515);
    Json(json!({ "connections": world.stream_error(&body.phone, code).await }))
}

async fn ban(State(world): Shared, Json(body): Json<Fault>) -> Response {
    let duration = Duration::from_secs(body.seconds.unwrap_or(3600));
    if world.ban(&body.phone, duration).await {
        Json(json!({ "ok": true })).into_response()
    } else {
        bad_request(format!("no account {}", body.phone))
    }
}

#[derive(Deserialize)]
struct DelayMs {
    ms: u64,
}

async fn ack_delay(State(world): Shared, Json(body): Json<DelayMs>) -> Json<Value> {
    world.set_ack_delay(Duration::from_millis(body.ms)).await;
    Json(json!({ "ok": true }))
}

async fn handshake_delay(State(world): Shared, Json(body): Json<DelayMs>) -> Json<Value> {
    world
        .set_handshake_delay(Duration::from_millis(body.ms))
        .await;
    Json(json!({ "ok": true }))
}

async fn logins(State(world): Shared) -> Json<Value> {
    Json(json!({ "inFlight": world.logins.in_flight(), "peak": world.logins.peak() }))
}

async fn reset_login_peak(State(world): Shared) -> Json<Value> {
    world.logins.reset_peak();
    Json(json!({ "ok": true }))
}

async fn rotate_key(State(world): Shared) -> Json<Value> {
    world.rotate_identity();
    Json(json!({ "ok": true }))
}
