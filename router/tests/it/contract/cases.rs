//! The contract cases, run against both backends: `contract.rs` (local) and
//! `contract_cluster` (cluster: fake Kubernetes API, real operator and pods) each bind
//! `super::Router` to their backend and include this file.

use std::time::Duration;

use futures::StreamExt as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::Router;
use crate::support::{KEY, wait_until};

/// The contract error code of a body.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}

#[tokio::test]
async fn create_is_idempotent_and_never_resets_a_linked_session() {
    let home = tempfile::tempdir().unwrap();
    let router = Router::start(home.path(), &[]);
    let api = &router.api;
    let (status, created) = api
        .post(
            "/v1/sessions",
            json!({ "sessionId": "trainer_demo", "labels": { "team": "sales" } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "qr");
    assert_eq!(created["labels"]["team"], "sales");
    api.link("trainer_demo", Some("971500000001")).await;
    let (status, again) = api
        .post("/v1/sessions", json!({ "sessionId": "trainer_demo" }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (again["status"].as_str(), again["phone"].as_str()),
        (Some("connected"), Some("971500000001"))
    );

    for (body, field) in [
        (json!({ "sessionId": "bad id" }), "body"),
        (json!({ "sessionId": "" }), "body"),
        (json!({}), "body"),
        (
            json!({ "sessionId": "ok", "webhook": { "url": "nope" } }),
            "webhook.url",
        ),
        (json!({ "sessionId": "ok", "surprise": 1 }), "body"),
    ] {
        let (status, err) = api.post("/v1/sessions", body.clone()).await;
        assert_eq!(
            (status, code(&err)),
            (StatusCode::BAD_REQUEST, "validation_error"),
            "{body}: {err}"
        );
        assert!(
            err["error"]["details"][field].is_string(),
            "{field} in {err}"
        );
    }
    let (status, err) = api.get("/v1/sessions?status=sleeping").await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::BAD_REQUEST, "validation_error")
    );
}

#[tokio::test]
async fn lists_filter_by_status_and_every_session_route_is_mounted() {
    let home = tempfile::tempdir().unwrap();
    let router = Router::start(home.path(), &[]);
    let api = &router.api;
    for id in ["a-1", "a-2"] {
        assert_eq!(
            api.post("/v1/sessions", json!({ "sessionId": id })).await.0,
            StatusCode::CREATED
        );
    }
    api.link("a-1", Some("971500000011")).await;
    let (_, connected) = api.get("/v1/sessions?status=connected").await;
    let ids: Vec<_> = connected["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sessionId"].clone())
        .collect();
    assert_eq!(ids, [json!("a-1")]);
    let (_, all) = api.get("/v1/sessions").await;
    assert_eq!(all["sessions"].as_array().unwrap().len(), 2);

    // Per-session routes through the router.
    let (status, qr) = api.get("/v1/sessions/a-2/qr?format=json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(qr["qr"].as_str().unwrap().starts_with("2@"));
    let (status, sent) = api
        .post(
            "/v1/sessions/a-1/messages",
            json!({ "to": "971501234567", "text": "by path" }),
        )
        .await;
    assert_eq!(
        (status, sent["status"].as_str()),
        (StatusCode::OK, Some("sent"))
    );
    let (status, msg) = api
        .get(&format!(
            "/v1/sessions/a-1/messages/{}",
            sent["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        (status, msg["status"].as_str()),
        (StatusCode::OK, Some("sent"))
    );
    let (status, _) = api
        .post(
            "/v1/sessions/a-1/check-numbers",
            json!({ "numbers": ["971501234567"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.get("/v1/sessions/a-1/groups").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api
        .post(
            "/v1/sessions/a-2/pair-code",
            json!({ "phone": "971501234567" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, link) = api.post("/v1/sessions/a-2/qr-link", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let page = reqwest::get(api.url(link["url"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(
        page.status(),
        StatusCode::OK,
        "signed link opens without a key"
    );
    let (status, err) = api.get("/v1/sessions/nobody").await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::NOT_FOUND, "session_not_found")
    );

    // Send by body: by sessionId, by linked number, and the errors.
    let (status, sent) = api
        .post(
            "/v1/messages",
            json!({ "sessionId": "a-1", "to": "971501234567", "text": "by id" }),
        )
        .await;
    assert_eq!(
        (status, sent["status"].as_str()),
        (StatusCode::OK, Some("sent")),
        "{sent}"
    );
    let (status, sent) = api
        .post(
            "/v1/messages?async=true",
            json!({ "from": "+971 50 000 0011", "to": "971501234567", "text": "by from" }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    let (status, err) = api
        .post(
            "/v1/messages",
            json!({ "to": "971501234567", "text": "who?" }),
        )
        .await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::BAD_REQUEST, "validation_error")
    );
    let (status, err) = api
        .post(
            "/v1/messages",
            json!({ "from": "15559998888", "to": "971501234567", "text": "x" }),
        )
        .await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::NOT_FOUND, "session_not_found")
    );
    let (status, err) = api
        .post(
            "/v1/messages",
            json!({ "sessionId": "a-2", "to": "971501234567", "text": "x" }),
        )
        .await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::SERVICE_UNAVAILABLE, "session_not_ready")
    );
    let (status, err) = api
        .post(
            "/v1/messages",
            json!({ "sessionId": "a-1", "to": "12", "text": "x" }),
        )
        .await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::BAD_REQUEST, "validation_error")
    );

    // Delete with purge removes the folder; the session is gone from the list.
    let (status, deleted) = api.delete("/v1/sessions/a-2?purge=true").await;
    assert_eq!(
        (status, deleted),
        (StatusCode::OK, json!({ "deleted": true, "purged": true }))
    );
    let folder = home.path().join("a-2");
    assert!(
        wait_until(Duration::from_secs(5), || {
            let gone = !folder.exists();
            async move { gone }
        })
        .await,
        "purge removes the session's data"
    );
    let (_, all) = api.get("/v1/sessions").await;
    assert_eq!(all["sessions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_all_sessions_stream_carries_every_session() {
    let home = tempfile::tempdir().unwrap();
    let router = Router::start(home.path(), &[]);
    let api = &router.api;
    let resp = api
        .http
        .get(api.url("/v1/events"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut stream = resp.bytes_stream();
    for id in ["s-1", "s-2"] {
        api.post("/v1/sessions", json!({ "sessionId": id })).await;
        api.link(id, None).await;
    }
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !(seen.contains("\"sessionId\":\"s-1\"")
        && seen.contains("\"sessionId\":\"s-2\"")
        && seen.matches("\"connected\"").count() >= 2)
    {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("events in time; seen: {seen}"))
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn openapi_and_docs_are_served_without_a_key() {
    let home = tempfile::tempdir().unwrap();
    let router = Router::start(home.path(), &[]);
    let doc: Value = reqwest::get(router.api.url("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/v1/sessions",
        "/v1/messages",
        "/v1/events",
        "/v1/sessions/{id}/messages",
        "/v1/sessions/{id}/qr",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    assert!(
        doc["paths"]["/v1/sessions/{id}/sandbox/scan"].is_null(),
        "sandbox routes stay out of the public API"
    );
    let docs = reqwest::get(router.api.url("/docs/")).await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(
        docs.text().await.unwrap().contains("swagger-ui"),
        "Swagger UI from vendored assets"
    );
}

/// A delete without `purge` keeps the WhatsApp link (README, CRD `retainAuthOnDelete`):
/// the same id created again is connected with the same phone and never shows a QR.
#[tokio::test]
async fn delete_without_purge_keeps_the_link_for_the_next_create() {
    let home = tempfile::tempdir().unwrap();
    let router = Router::start(home.path(), &[]);
    let api = &router.api;
    let (status, _) = api
        .post("/v1/sessions", json!({ "sessionId": "keep_me" }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    api.link("keep_me", Some("971500000042")).await;
    let (status, deleted) = api.delete("/v1/sessions/keep_me").await;
    assert_eq!(
        (status, deleted),
        (StatusCode::OK, json!({ "deleted": true, "purged": false }))
    );
    let gone = wait_until(Duration::from_secs(10), || async {
        api.get("/v1/sessions/keep_me").await.0 == StatusCode::NOT_FOUND
    })
    .await;
    assert!(gone, "the deleted session is still listed");

    let created = wait_until(Duration::from_secs(10), || async {
        let (status, _) = api
            .post("/v1/sessions", json!({ "sessionId": "keep_me" }))
            .await;
        status.is_success()
    })
    .await;
    assert!(created, "the session could not be created again");
    let (connected, seen) =
        crate::support::states_until(api, "keep_me", "connected", Duration::from_secs(10)).await;
    assert!(connected, "not connected again; states seen: {seen:?}");
    let (_, info) = api.get("/v1/sessions/keep_me").await;
    assert_eq!(info["phone"], "971500000042", "{info}");
    assert!(!seen.iter().any(|s| s == "qr"), "a QR was shown: {seen:?}");
}

/// A webhook at an internal address is refused when it is set, on create and on change,
/// with nothing created or changed (the harness opens only 127.0.0.0/8).
#[tokio::test]
async fn webhooks_at_internal_addresses_are_refused_when_set() {
    let home = tempfile::tempdir().unwrap();
    let router = Router::start(home.path(), &[]);
    let api = &router.api;
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.7:8080/hook",
        "http://[::ffff:10.0.0.7]/hook",
    ] {
        let (status, body) = api
            .post(
                "/v1/sessions",
                json!({ "sessionId": "hooked", "webhook": { "url": url } }),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "validation_error"),
            "create with {url}: {body}"
        );
    }
    assert_eq!(
        api.get("/v1/sessions/hooked").await.0,
        StatusCode::NOT_FOUND,
        "a refused create created nothing"
    );
    let (status, _) = api
        .post("/v1/sessions", json!({ "sessionId": "hooked" }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = api
        .put(
            "/v1/sessions/hooked/webhook",
            json!({ "url": "http://169.254.169.254/hook" }),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "validation_error"),
        "{body}"
    );
    let (_, info) = api.get("/v1/sessions/hooked").await;
    assert!(info["webhook"].is_null(), "{info}");
}

/// A session created without a webhook delivers to the gateway's default one (signed with
/// its secret) and shows it in its info; its own webhook replaces it, and removing that
/// brings the default back.
#[tokio::test]
async fn sessions_without_their_own_webhook_deliver_to_the_default() {
    const SECRET: &str = "default-secret-0123456789";
    let home = tempfile::tempdir().unwrap();
    let receiver = crate::support::WebhookReceiver::start().await;
    let router = Router::start_with_default_webhook(home.path(), &receiver.url, SECRET);
    let api = &router.api;
    let (status, created) = api
        .post("/v1/sessions", json!({ "sessionId": "dflt" }))
        .await;
    assert!(status.is_success(), "{created}");
    assert_eq!(
        created["webhook"]["url"],
        receiver.url.as_str(),
        "{created}"
    );
    assert_eq!(created["webhook"]["hasSecret"], true, "{created}");
    let (ready, seen) =
        crate::support::states_until(api, "dflt", "qr", Duration::from_secs(20)).await;
    assert!(ready, "no QR; states: {seen:?}");
    api.link("dflt", Some("971500000077")).await;
    let (connected, seen) =
        crate::support::states_until(api, "dflt", "connected", Duration::from_secs(20)).await;
    assert!(connected, "states: {seen:?}");
    api.post(
        "/v1/sessions/dflt/sandbox/inbound",
        json!({ "from": "971500000001", "text": "to the default webhook" }),
    )
    .await;
    let delivered = wait_until(Duration::from_secs(10), || async {
        receiver.deliveries().iter().any(|d| {
            d.body.contains("to the default webhook")
                && d.header("x-wagate-signature")
                    == wagate_session::webhook::signature(SECRET, d.body.as_bytes())
        })
    })
    .await;
    assert!(
        delivered,
        "no signed delivery at the default webhook: {:?}",
        receiver.deliveries().len()
    );

    let (status, own) = api
        .put(
            "/v1/sessions/dflt/webhook",
            json!({ "url": "http://127.0.0.1:9/own" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{own}");
    assert_eq!(own["webhook"]["url"], "http://127.0.0.1:9/own");
    assert_eq!(own["webhook"]["hasSecret"], false);
    let (status, back) = api.delete("/v1/sessions/dflt/webhook").await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(back["webhook"]["url"], receiver.url.as_str(), "{back}");
    let (_, info) = api.get("/v1/sessions/dflt").await;
    assert_eq!(info["webhook"]["url"], receiver.url.as_str(), "{info}");
}

/// Locations and contact cards are sent like texts on both backends: accepted, queued in
/// order and sent as asked (the simulator's sent log holds the message body); a bad one is
/// refused with the field named.
#[tokio::test]
async fn locations_and_contact_cards_are_sent_as_asked() {
    let home = tempfile::tempdir().unwrap();
    let router = Router::start(home.path(), &[]);
    let api = &router.api;
    let (status, _) = api
        .post("/v1/sessions", json!({ "sessionId": "kinds" }))
        .await;
    assert!(status.is_success());
    api.link("kinds", Some("971500000055")).await;
    let (status, location) = api
        .post(
            "/v1/sessions/kinds/messages",
            json!({ "to": "971501234567", "location": {
                "latitude": -33.8568, "longitude": 151.2153, "name": "Opera House" } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{location}");
    let (status, card) = api
        .post(
            "/v1/sessions/kinds/messages",
            json!({ "to": "971501234567", "contacts": [
                { "fullName": "Front Desk", "phones": [{ "number": "+61 2 9250 7111" }] } ] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{card}");
    let (_, sent) = api.get("/v1/sessions/kinds/sandbox/sent").await;
    let body_of = |id: &Value| {
        sent["sent"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["id"] == *id)
            .map(|s| s["body"].clone())
            .unwrap_or_default()
    };
    assert_eq!(
        body_of(&location["id"]),
        json!({ "type": "location", "latitude": -33.8568, "longitude": 151.2153,
                "name": "Opera House", "address": null }),
        "{sent}"
    );
    let card = body_of(&card["id"]);
    assert_eq!(card["type"], "contacts", "{sent}");
    assert_eq!(card["contacts"][0]["displayName"], "Front Desk");
    assert!(
        card["contacts"][0]["vcard"]
            .as_str()
            .unwrap_or_default()
            .contains("waid=61292507111"),
        "{card}"
    );
    let (status, error) = api
        .post(
            "/v1/sessions/kinds/messages",
            json!({ "to": "971501234567", "location": { "latitude": 12.0, "longitude": 181.0 } }),
        )
        .await;
    assert_eq!(
        (status, code(&error)),
        (StatusCode::BAD_REQUEST, "validation_error")
    );
    assert!(
        error["error"]["details"]["location.longitude"].is_string(),
        "{error}"
    );
}

/// Reactions, edits and revokes by message id, on both backends (the cluster router
/// forwards `PATCH` and `DELETE` of a message to its pod like any per-session route).
#[tokio::test]
async fn messages_are_reacted_to_edited_and_revoked_by_id() {
    let home = tempfile::tempdir().unwrap();
    let router = Router::start(home.path(), &[]);
    let api = &router.api;
    let (status, _) = api
        .post("/v1/sessions", json!({ "sessionId": "acts" }))
        .await;
    assert!(status.is_success());
    api.link("acts", Some("971500000066")).await;
    let (status, _) = api
        .post(
            "/v1/sessions/acts/sandbox/inbound",
            json!({ "from": "971501234567", "text": "hello?", "id": "SIMIN0000000000000001" }),
        )
        .await;
    assert!(status.is_success());
    let indexed = wait_until(Duration::from_secs(5), || async {
        api.post(
            "/v1/sessions/acts/messages/SIMIN0000000000000001/reaction",
            json!({ "emoji": "🙏" }),
        )
        .await
        .0 == StatusCode::OK
    })
    .await;
    assert!(indexed, "reacting to the inbound message never succeeded");
    let (status, error) = api
        .patch(
            "/v1/sessions/acts/messages/SIMIN0000000000000001",
            json!({ "text": "not mine" }),
        )
        .await;
    assert_eq!((status, code(&error)), (StatusCode::CONFLICT, "conflict"));

    let (_, own) = api
        .post(
            "/v1/sessions/acts/messages",
            json!({ "to": "971501234567", "text": "see you at 6" }),
        )
        .await;
    let own = own["id"].as_str().unwrap().to_string();
    let (status, edited) = api
        .patch(
            &format!("/v1/sessions/acts/messages/{own}"),
            json!({ "text": "see you at 7" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    let (status, revoked) = api
        .delete(&format!(
            "/v1/sessions/acts/messages/{own}?forEveryone=true"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    // Without forEveryone: deleted for this account only, anyone's message; then gone.
    let (status, _) = api
        .delete("/v1/sessions/acts/messages/SIMIN0000000000000001")
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, error) = api
        .get("/v1/sessions/acts/messages/SIMIN0000000000000001")
        .await;
    assert_eq!(
        (status, code(&error)),
        (StatusCode::NOT_FOUND, "message_not_found")
    );
    let (status, error) = api
        .post(
            "/v1/sessions/acts/messages/3EB0000000000000000000/reaction",
            json!({ "emoji": "👍" }),
        )
        .await;
    assert_eq!(
        (status, code(&error)),
        (StatusCode::NOT_FOUND, "message_not_found")
    );

    let (_, sent) = api.get("/v1/sessions/acts/sandbox/sent").await;
    let kinds: Vec<_> = sent["sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(kinds, ["reaction", "text", "edit", "revoke"], "{sent}");
    assert_eq!(sent["sent"][2]["body"]["text"], "see you at 7");
    assert_eq!(sent["sent"][3]["body"]["target"], own.as_str());
}

/// The sandbox's contact reacts, edits and revokes (the simulator engine's twins of what a
/// phone does): the webhook gets message.reaction, message.edited and message.revoked.
#[tokio::test]
async fn a_sandbox_contacts_actions_reach_the_webhook() {
    let home = tempfile::tempdir().unwrap();
    let receiver = crate::support::WebhookReceiver::start().await;
    let router =
        Router::start_with_default_webhook(home.path(), &receiver.url, "sandbox-secret-0123456789");
    let api = &router.api;
    let (status, _) = api
        .post("/v1/sessions", json!({ "sessionId": "twins" }))
        .await;
    assert!(status.is_success());
    api.link("twins", Some("971500000077")).await;
    for body in [
        json!({ "from": "971501234567", "byLid": true,
                "reaction": { "messageId": "3EB0AA", "emoji": "😂" } }),
        json!({ "from": "971501234567", "edit": { "messageId": "SIM0BB", "text": "fixed" } }),
        json!({ "from": "971501234567", "revoke": "SIM0BB" }),
    ] {
        let (status, answer) = api.post("/v1/sessions/twins/sandbox/inbound", body).await;
        assert!(status.is_success(), "{answer}");
    }
    let data = |event: &str| receiver.data(event);
    let arrived = wait_until(Duration::from_secs(10), || async {
        !data("message.reaction").is_empty()
            && !data("message.edited").is_empty()
            && !data("message.revoked").is_empty()
    })
    .await;
    assert!(arrived, "{:?}", receiver.deliveries().len());
    let chat = "971501234567@s.whatsapp.net";
    assert_eq!(
        data("message.reaction"),
        [json!({ "messageId": "3EB0AA", "from": "971501234567",
                 "fromLid": "1971501234567@lid", "chat": chat, "emoji": "😂", "removed": false })]
    );
    assert_eq!(data("message.edited")[0]["text"], "fixed");
    assert_eq!(data("message.revoked")[0]["messageId"], "SIM0BB");
    assert!(
        data("message.received").is_empty(),
        "no action is a message"
    );
}

/// Read receipts and presence on both backends (the cluster router forwards `chats/...` and
/// `presence` to the pod).
#[tokio::test]
async fn chats_are_marked_read_and_presence_is_shown() {
    let home = tempfile::tempdir().unwrap();
    let router = Router::start(home.path(), &[]);
    let api = &router.api;
    let (status, _) = api
        .post("/v1/sessions", json!({ "sessionId": "reads" }))
        .await;
    assert!(status.is_success());
    api.link("reads", Some("971500000088")).await;
    let (status, _) = api
        .post(
            "/v1/sessions/reads/sandbox/inbound",
            json!({ "from": "971501234567", "text": "read me" }),
        )
        .await;
    assert!(status.is_success());
    let read_one = wait_until(Duration::from_secs(5), || async {
        api.post("/v1/sessions/reads/chats/971501234567/read", json!({}))
            .await
            .1
            == json!({ "read": 1 })
    })
    .await;
    assert!(read_one, "the inbound message was never marked read");
    let (_, again) = api
        .post("/v1/sessions/reads/chats/971501234567/read", json!({}))
        .await;
    assert_eq!(again, json!({ "read": 0 }));
    let (status, ok) = api
        .post(
            "/v1/sessions/reads/chats/971501234567/presence",
            json!({ "state": "composing" }),
        )
        .await;
    assert_eq!((status, ok), (StatusCode::OK, json!({ "ok": true })));
    let (status, error) = api
        .post(
            "/v1/sessions/reads/chats/971501234567/presence",
            json!({ "state": "dancing" }),
        )
        .await;
    assert_eq!(
        (status, code(&error)),
        (StatusCode::BAD_REQUEST, "validation_error")
    );
    let (status, _) = api
        .put("/v1/sessions/reads/presence", json!({ "available": true }))
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// Polls on both backends: a bad poll names its fields; a sent one is voted on by the
/// sandbox's contact (encrypted with the poll's secret), the webhook gets `poll.vote` and
/// the message answers with its tally; a received message answers by id too; typing
/// arrives as `chat.presence`.
#[tokio::test]
async fn polls_are_voted_and_tallied() {
    let home = tempfile::tempdir().unwrap();
    let receiver = crate::support::WebhookReceiver::start().await;
    let router =
        Router::start_with_default_webhook(home.path(), &receiver.url, "polls-secret-0123456789");
    let api = &router.api;
    let (status, _) = api
        .post("/v1/sessions", json!({ "sessionId": "polls" }))
        .await;
    assert!(status.is_success());
    api.link("polls", Some("971500000099")).await;
    let send = |poll: Value| {
        api.post(
            "/v1/sessions/polls/messages",
            json!({ "to": "971501234567", "poll": poll }),
        )
    };
    let thirteen: Vec<String> = (1..=13).map(|i| format!("option {i}")).collect();
    for (poll, field) in [
        (
            json!({ "question": "Q?", "options": ["only"] }),
            "poll.options",
        ),
        (
            json!({ "question": "Q?", "options": thirteen }),
            "poll.options",
        ),
        (
            json!({ "question": "Q?", "options": ["a", "a"] }),
            "poll.options[1]",
        ),
        (
            json!({ "question": "", "options": ["a", "b"] }),
            "poll.question",
        ),
        (
            json!({ "question": "Q?", "options": ["a", "b"], "selectableCount": 3 }),
            "poll.selectableCount",
        ),
    ] {
        let (status, error) = send(poll).await;
        assert_eq!(
            (status, code(&error)),
            (StatusCode::BAD_REQUEST, "validation_error"),
            "{error}"
        );
        assert!(error["error"]["details"][field].is_string(), "{error}");
    }
    let (status, error) = api
        .post(
            "/v1/sessions/polls/messages",
            json!({ "to": "971501234567", "media": {
                "type": "image", "data": "aGVsbG8=", "ptt": true } }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(
        error["error"]["details"]["media.ptt"].is_string(),
        "{error}"
    );

    let (status, poll) = send(json!({ "question": "Lunch?", "options": ["Pizza", "Sushi"] })).await;
    assert_eq!(status, StatusCode::OK, "{poll}");
    assert_eq!(poll["type"], "poll", "{poll}");
    let poll_id = poll["id"].as_str().unwrap().to_string();
    let (status, answer) = api
        .post(
            "/v1/sessions/polls/sandbox/inbound",
            json!({ "from": "971501234567", "vote": { "pollId": poll_id, "options": ["Sushi"] } }),
        )
        .await;
    assert!(status.is_success(), "{answer}");
    let votes = || -> Vec<Value> {
        receiver
            .accepted("poll.vote")
            .iter()
            .map(|d| d.json()["data"].clone())
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(10), || async { !votes().is_empty() }).await,
        "no poll.vote"
    );
    assert_eq!(
        votes()[0],
        json!({ "pollId": poll_id, "from": "971501234567",
                "chat": "971501234567@s.whatsapp.net", "selectedOptions": ["Sushi"] })
    );
    let (status, message) = api
        .get(&format!("/v1/sessions/polls/messages/{poll_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{message}");
    assert_eq!(
        message["votes"],
        json!([{ "option": "Pizza", "voters": [] },
               { "option": "Sushi", "voters": ["971501234567"] }])
    );

    // A received message answers by id, as received.
    let (status, _) = api
        .post(
            "/v1/sessions/polls/sandbox/inbound",
            json!({ "from": "971501234567", "text": "hi", "id": "SIMIN0000000000000099" }),
        )
        .await;
    assert!(status.is_success());
    let found = wait_until(Duration::from_secs(5), || async {
        api.get("/v1/sessions/polls/messages/SIMIN0000000000000099")
            .await
            .0
            == StatusCode::OK
    })
    .await;
    assert!(found, "the received message never answered by id");
    let (_, received) = api
        .get("/v1/sessions/polls/messages/SIMIN0000000000000099")
        .await;
    assert_eq!(received["fromMe"], false, "{received}");
    assert_eq!(received["from"], "971501234567", "{received}");
    assert_eq!(received["type"], "text", "{received}");
    let (status, error) = api
        .get("/v1/sessions/polls/messages/NOSUCHMESSAGE0001")
        .await;
    assert_eq!(
        (status, code(&error)),
        (StatusCode::NOT_FOUND, "message_not_found")
    );

    // Typed on the phone: the webhook sees it as the account's own.
    let (status, _) = api
        .post(
            "/v1/sessions/polls/sandbox/inbound",
            json!({ "from": "971501234567", "fromMe": true, "text": "from my phone",
                    "id": "SIMIN0000000000000098" }),
        )
        .await;
    assert!(status.is_success());
    let mine = wait_until(Duration::from_secs(10), || async {
        receiver
            .accepted("message.received")
            .iter()
            .any(|d| d.json()["data"]["messageId"] == "SIMIN0000000000000098")
    })
    .await;
    assert!(mine, "the phone's message did not reach the webhook");
    let mine = receiver
        .accepted("message.received")
        .into_iter()
        .map(|d| d.json()["data"].clone())
        .find(|d| d["messageId"] == "SIMIN0000000000000098")
        .unwrap();
    assert_eq!(
        (&mine["fromMe"], &mine["from"], &mine["chat"]),
        (
            &json!(true),
            &json!("971500000099"),
            &json!("971501234567@s.whatsapp.net")
        ),
        "{mine}"
    );

    // Two chats' messages with the same id (senders choose ids): acting by that id is
    // refused rather than guessed.
    for from in ["971501234567", "971501234568"] {
        let (status, _) = api
            .post(
                "/v1/sessions/polls/sandbox/inbound",
                json!({ "from": from, "text": "twin", "id": "SIMTWIN00000000000001" }),
            )
            .await;
        assert!(status.is_success());
    }
    let ambiguous = wait_until(Duration::from_secs(5), || async {
        let (status, body) = api
            .get("/v1/sessions/polls/messages/SIMTWIN00000000000001")
            .await;
        status == StatusCode::CONFLICT && code(&body) == "conflict"
    })
    .await;
    assert!(ambiguous, "an id two chats share was not refused");

    // Typing only reaches a webhook that asks for it.
    let (status, body) = api
        .put(
            "/v1/sessions/polls/webhook",
            json!({ "url": receiver.url, "events": ["chat.presence"] }),
        )
        .await;
    assert!(status.is_success(), "{body}");
    // In cluster mode the pod takes the new webhook when the operator has applied it:
    // the contact keeps typing (alternating, as a repeated state is no news) until one
    // arrives.
    let states = ["recording", "paused"];
    let mut sent = 0;
    let receiver = &receiver;
    let typing = wait_until(Duration::from_secs(20), || {
        let state = states[sent % 2];
        sent += 1;
        async move {
            let (status, body) = api
                .post(
                    "/v1/sessions/polls/sandbox/inbound",
                    json!({ "from": "971501234567", "chatState": state }),
                )
                .await;
            // (Cluster mode: the pod restarts to take the webhook; 503 until it is back.)
            let restarting = matches!(code(&body), "session_not_ready" | "upstream_timeout");
            assert!(status.is_success() || restarting, "{status} {body}");
            !receiver.accepted("chat.presence").is_empty()
        }
    })
    .await;
    assert!(typing, "no chat.presence");
    let data = receiver.accepted("chat.presence")[0].json()["data"].clone();
    assert_eq!(data["chat"], "971501234567@s.whatsapp.net", "{data}");
    assert_eq!(data["from"], "971501234567", "{data}");
    assert!(
        states.contains(&data["state"].as_str().unwrap_or_default()),
        "{data}"
    );
}

/// Groups on both backends (the simulator engine's groups): create, read, change, members
/// with per-number answers, invite links, join and leave, and the admin rules.
#[tokio::test]
async fn groups_are_administered() {
    let home = tempfile::tempdir().unwrap();
    let receiver = crate::support::WebhookReceiver::start().await;
    let router =
        Router::start_with_default_webhook(home.path(), &receiver.url, "groups-secret-0123456789");
    let api = &router.api;
    let (status, _) = api
        .post("/v1/sessions", json!({ "sessionId": "groups" }))
        .await;
    assert!(status.is_success());
    api.link("groups", Some("971500000077")).await;

    let (status, team) = api
        .post(
            "/v1/sessions/groups/groups",
            json!({ "subject": " Team ", "participants": ["971501234567", "971501110403", "971509990000"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    assert_eq!(
        (
            &team["subject"],
            &team["participantCount"],
            &team["isSuperAdmin"]
        ),
        (&json!("Team"), &json!(2), &json!(true)),
        "{team}"
    );
    let jid = team["jid"].as_str().unwrap().to_string();
    let (status, got) = api.get(&format!("/v1/sessions/groups/groups/{jid}")).await;
    assert_eq!(
        (status, &got["jid"]),
        (StatusCode::OK, &json!(jid)),
        "{got}"
    );
    let (_, list) = api.get("/v1/sessions/groups/groups").await;
    assert!(
        list["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["jid"] == jid),
        "{list}"
    );

    let (status, changed) = api
        .patch(
            &format!("/v1/sessions/groups/groups/{jid}"),
            json!({ "subject": "Team 2", "ephemeralSeconds": 604800 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["subject"], "Team 2");
    assert_eq!(changed["settings"]["ephemeralSeconds"], 604800);

    let (status, added) = api
        .post(
            &format!("/v1/sessions/groups/groups/{jid}/participants"),
            json!({ "action": "add", "participants": ["971501234568", "971501234567"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    let statuses: Vec<&Value> = added["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["status"])
        .collect();
    assert_eq!(statuses, [&json!(200), &json!(409)], "{added}");

    let (_, link) = api
        .get(&format!("/v1/sessions/groups/groups/{jid}/invite-link"))
        .await;
    let (status, reset) = api
        .delete(&format!("/v1/sessions/groups/groups/{jid}/invite-link"))
        .await;
    assert_eq!(status, StatusCode::OK, "{reset}");
    assert_ne!(link["code"], reset["code"], "{link} {reset}");

    let (status, joined) = api
        .post(
            "/v1/sessions/groups/groups/join",
            json!({ "code": "SimulatedInviteCode1" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    let open = joined["jid"].as_str().unwrap().to_string();
    let (status, _) = api
        .post(
            &format!("/v1/sessions/groups/groups/{open}/leave"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, gone) = api.get(&format!("/v1/sessions/groups/groups/{open}")).await;
    assert_eq!(
        (status, code(&gone)),
        (StatusCode::NOT_FOUND, "group_not_found")
    );

    // "Simulated Customers": this account is a plain member there.
    let (status, refused) = api
        .patch(
            "/v1/sessions/groups/groups/120363000000000002@g.us",
            json!({ "announce": false }),
        )
        .await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::FORBIDDEN, "not_group_admin"),
        "{refused}"
    );

    // The sandbox's twin of a member changing a group from their phone: its admin adds
    // someone and renames it; a plain member may not.
    let customers = "120363000000000002@g.us";
    for body in [
        json!({ "group": customers, "by": "15550000001",
                "participants": { "action": "add", "participants": ["971501234569"] } }),
        json!({ "group": customers, "by": "15550000001", "changes": { "subject": "VIPs" } }),
    ] {
        let (status, answer) = api.post("/v1/sessions/groups/sandbox/group", body).await;
        assert!(status.is_success(), "{answer}");
    }
    let (status, refused) = api
        .post(
            "/v1/sessions/groups/sandbox/group",
            json!({ "group": customers, "by": "971500000077", "changes": { "locked": false } }),
        )
        .await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::FORBIDDEN, "not_group_admin")
    );
    let data = |event: &str| receiver.data(event);
    let arrived = wait_until(Duration::from_secs(10), || async {
        !data("group.participants").is_empty() && !data("group.updated").is_empty()
    })
    .await;
    assert!(arrived, "the group's changes did not reach the webhook");
    assert_eq!(
        data("group.participants"),
        [json!({ "group": customers, "action": "add",
                 "participants": ["971501234569"], "by": "15550000001" })]
    );
    assert_eq!(
        data("group.updated"),
        [json!({ "group": customers, "by": "15550000001", "changes": { "subject": "VIPs" } })]
    );

    let too_many: Vec<String> = (0..257).map(|i| format!("9715{i:08}")).collect();
    for (method, path, body) in [
        (
            "GET",
            "/v1/sessions/groups/groups/971501234567@s.whatsapp.net".to_string(),
            json!(null),
        ),
        (
            "PATCH",
            format!("/v1/sessions/groups/groups/{jid}"),
            json!({}),
        ),
        (
            "POST",
            format!("/v1/sessions/groups/groups/{jid}/participants"),
            json!({ "action": "add", "participants": too_many }),
        ),
        (
            "POST",
            "/v1/sessions/groups/groups/join".to_string(),
            json!({ "link": "https://example.com/x" }),
        ),
    ] {
        let (status, error) = match method {
            "GET" => api.get(&path).await,
            "PATCH" => api.patch(&path, body).await,
            _ => api.post(&path, body).await,
        };
        assert_eq!(
            (status, code(&error)),
            (StatusCode::BAD_REQUEST, "validation_error"),
            "{method} {path}: {error}"
        );
    }
}

/// Contacts and LIDs on both backends (the simulator engine's people).
#[tokio::test]
async fn contacts_are_looked_up_and_lids_resolved() {
    let home = tempfile::tempdir().unwrap();
    let router = Router::start(home.path(), &[]);
    let api = &router.api;
    let (status, _) = api
        .post("/v1/sessions", json!({ "sessionId": "people" }))
        .await;
    assert!(status.is_success());
    api.link("people", Some("971500000066")).await;
    let (status, ann) = api.get("/v1/sessions/people/contacts/971501234567").await;
    assert_eq!(status, StatusCode::OK, "{ann}");
    assert_eq!(
        (&ann["onWhatsApp"], &ann["phone"], &ann["lid"]),
        (
            &json!(true),
            &json!("971501234567"),
            &json!("1971501234567@lid")
        ),
        "{ann}"
    );
    let (_, hidden) = api.get("/v1/sessions/people/contacts/971501110403").await;
    assert_eq!(
        (&hidden["onWhatsApp"], &hidden["about"]),
        (&json!(true), &Value::Null),
        "{hidden}"
    );
    let (_, nobody) = api.get("/v1/sessions/people/contacts/971509990000").await;
    assert_eq!(nobody["onWhatsApp"], false, "{nobody}");
    let (status, lid) = api.get("/v1/sessions/people/lids/1971501234567@lid").await;
    assert_eq!(
        (status, lid),
        (
            StatusCode::OK,
            json!({ "lid": "1971501234567@lid", "phone": "971501234567" })
        )
    );
    let (status, unknown) = api.get("/v1/sessions/people/lids/5@lid").await;
    assert_eq!(
        (status, code(&unknown)),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (status, bad) = api
        .get("/v1/sessions/people/contacts/120363000000000001@g.us")
        .await;
    assert_eq!(
        (status, code(&bad)),
        (StatusCode::BAD_REQUEST, "validation_error")
    );
}

/// The account's own profile and its blocklist on both backends (the cluster router
/// forwards `profile`, `blocklist` and `contacts/.../block` to the pod).
#[tokio::test]
async fn profile_and_blocklist_are_managed() {
    use base64::Engine as _;

    let home = tempfile::tempdir().unwrap();
    let router = Router::start(home.path(), &[]);
    let api = &router.api;
    let (status, _) = api.post("/v1/sessions", json!({ "sessionId": "me" })).await;
    assert!(status.is_success());
    api.link("me", Some("971500000088")).await;
    let (status, profile) = api.get("/v1/sessions/me/profile").await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert_eq!(
        (&profile["phone"], &profile["lid"]),
        (&json!("971500000088"), &json!("1971500000088@lid"))
    );
    let (status, changed) = api
        .patch(
            "/v1/sessions/me/profile",
            json!({ "pushName": "Front Desk", "about": "" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (&changed["pushName"], &changed["about"]),
        (&json!("Front Desk"), &Value::Null)
    );
    let (status, bad) = api
        .patch("/v1/sessions/me/profile", json!({ "pushName": "" }))
        .await;
    assert_eq!(
        (status, code(&bad)),
        (StatusCode::BAD_REQUEST, "validation_error")
    );

    let mut jpeg = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::new(400, 300))
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    let data = base64::engine::general_purpose::STANDARD.encode(&jpeg);
    let (status, pictured) = api
        .put("/v1/sessions/me/profile/picture", json!({ "data": data }))
        .await;
    assert_eq!(status, StatusCode::OK, "{pictured}");
    assert!(pictured["profilePictureUrl"].is_string(), "{pictured}");
    let (status, bad) = api
        .put(
            "/v1/sessions/me/profile/picture",
            json!({ "data": "bm90IGFuIGltYWdl" }),
        )
        .await;
    assert_eq!(
        (status, code(&bad)),
        (StatusCode::BAD_REQUEST, "validation_error")
    );
    let (status, _) = api.delete("/v1/sessions/me/profile/picture").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, profile) = api.get("/v1/sessions/me/profile").await;
    assert_eq!(profile["profilePictureUrl"], Value::Null, "{profile}");

    let (status, list) = api
        .post("/v1/sessions/me/contacts/+971501234567/block", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(
        list,
        json!({ "blocked": [{ "jid": "1971501234567@lid", "phone": "971501234567",
                              "lid": "1971501234567@lid" }] })
    );
    let (_, list) = api.get("/v1/sessions/me/blocklist").await;
    assert_eq!(list["blocked"].as_array().map(Vec::len), Some(1), "{list}");
    let (status, list) = api
        .delete("/v1/sessions/me/contacts/971501234567/block")
        .await;
    assert_eq!((status, list), (StatusCode::OK, json!({ "blocked": [] })));
    let (status, unknown) = api
        .post("/v1/sessions/me/contacts/971509990000/block", json!({}))
        .await;
    assert_eq!(
        (status, code(&unknown)),
        (StatusCode::NOT_FOUND, "number_not_on_whatsapp")
    );
}

/// Behaviour settings on both backends: `PUT .../settings` shows in the session's info (in
/// cluster mode through the resource's `spec.settings`, which the pod is rolled onto), and
/// a sandbox call is rejected, reported and answered once.
#[tokio::test]
async fn settings_reject_calls_and_answer_once() {
    let home = tempfile::tempdir().unwrap();
    let receiver = crate::support::WebhookReceiver::start().await;
    let router = Router::start_with_default_webhook(
        home.path(),
        &receiver.url,
        "settings-secret-0123456789",
    );
    let api = &router.api;
    let (status, _) = api
        .post("/v1/sessions", json!({ "sessionId": "calls" }))
        .await;
    assert!(status.is_success());
    api.link("calls", Some("971500000099")).await;
    let (_, info) = api.get("/v1/sessions/calls").await;
    assert_eq!(info["settings"]["rejectCalls"], false, "{info}");
    let settings = json!({ "rejectCalls": true, "rejectCallsMessage": "Please write",
        "autoRead": false, "alwaysOnline": false, "ignoreGroups": false,
        "ignoreStatusBroadcast": false });
    let (status, info) = api
        .put("/v1/sessions/calls/settings", settings.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["settings"], settings, "{info}");
    let (_, info) = api.get("/v1/sessions/calls").await;
    assert_eq!(info["settings"], settings, "{info}");
    let (status, bad) = api
        .put(
            "/v1/sessions/calls/settings",
            json!({ "rejectCalls": "yes" }),
        )
        .await;
    assert_eq!(
        (status, code(&bad)),
        (StatusCode::BAD_REQUEST, "validation_error")
    );

    // In cluster mode the pod restarts onto the new settings: ring until one that has them
    // answers (a call to the old pod is reported unrejected).
    let caller = "971501234567";
    let rejected_call = wait_until(Duration::from_secs(90), || async {
        let (status, call) = api
            .post("/v1/sessions/calls/sandbox/call", json!({ "from": caller }))
            .await;
        if status != StatusCode::OK {
            tokio::time::sleep(Duration::from_millis(500)).await;
            return false;
        }
        let id = call["callId"].clone();
        wait_until(Duration::from_secs(5), || async {
            receiver
                .data("call.received")
                .iter()
                .any(|d| d["callId"] == id && d["rejected"] == true)
        })
        .await
    })
    .await;
    assert!(rejected_call, "{:?}", receiver.data("call.received"));
    let (status, _) = api
        .post(
            "/v1/sessions/calls/sandbox/call",
            json!({ "from": caller, "video": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let sent_of = |kind: &'static str| async move {
        let (_, sent) = api.get("/v1/sessions/calls/sandbox/sent").await;
        sent["sent"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["kind"] == kind)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(
        wait_until(Duration::from_secs(10), || async {
            sent_of("call-reject").await.len() >= 2 && !sent_of("text").await.is_empty()
        })
        .await
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let replies = sent_of("text").await;
    assert_eq!(
        replies.len(),
        1,
        "one reply per caller per day: {replies:?}"
    );
    assert_eq!(replies[0]["text"], "Please write");
}

#[tokio::test]
async fn message_history_stats_and_host_are_shown() {
    let home = tempfile::tempdir().unwrap();
    let router = Router::start(home.path(), &[]);
    let api = &router.api;
    let (status, _) = api
        .post("/v1/sessions", json!({ "sessionId": "history" }))
        .await;
    assert!(status.is_success());
    api.link("history", Some("971500000077")).await;
    for text in ["first words", "second words"] {
        let (status, sent) = api
            .post(
                "/v1/sessions/history/messages",
                json!({ "to": "971501234567", "text": text }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{sent}");
    }
    // WhatsApp times messages to the second: leave one between ours and the reply.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _) = api
        .post(
            "/v1/sessions/history/sandbox/inbound",
            json!({ "from": "971509999999", "text": "a reply from elsewhere" }),
        )
        .await;
    assert!(status.is_success());
    let all_three = wait_until(Duration::from_secs(5), || async {
        let page = api.get("/v1/sessions/history/messages").await.1;
        page["messages"].as_array().is_some_and(|m| m.len() == 3)
    })
    .await;
    let (_, page) = api.get("/v1/sessions/history/messages").await;
    assert!(all_three, "{page}");
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(
        messages[0]["preview"], "a reply from elsewhere",
        "newest first"
    );
    assert_eq!(messages[0]["fromMe"], false);
    assert!(messages[0].get("status").is_none(), "{page}");
    assert_eq!(messages[1]["preview"], "second words");
    assert_eq!(messages[1]["fromMe"], true);
    assert!(
        ["sent", "delivered", "read"].contains(&messages[1]["status"].as_str().unwrap_or("")),
        "{page}"
    );
    assert_eq!(messages[2]["chat"], "971501234567@s.whatsapp.net");

    let (_, one_chat) = api
        .get("/v1/sessions/history/messages?chat=%2B971%2050%20123%204567")
        .await;
    assert_eq!(
        one_chat["messages"].as_array().unwrap().len(),
        2,
        "{one_chat}"
    );
    let (_, first_page) = api.get("/v1/sessions/history/messages?limit=2").await;
    let before = first_page["nextBefore"]
        .as_str()
        .expect("a next page")
        .to_string();
    let (_, second_page) = api
        .get(&format!(
            "/v1/sessions/history/messages?limit=2&before={}",
            percent_encoding::utf8_percent_encode(&before, percent_encoding::NON_ALPHANUMERIC)
        ))
        .await;
    assert_eq!(
        second_page["messages"][0]["preview"], "first words",
        "{second_page}"
    );
    assert!(second_page.get("nextBefore").is_none(), "{second_page}");
    for bad in ["limit=0", "limit=201", "before=yesterday", "chat=nobody"] {
        let (status, error) = api
            .get(&format!("/v1/sessions/history/messages?{bad}"))
            .await;
        assert_eq!(
            (status, code(&error)),
            (StatusCode::BAD_REQUEST, "validation_error"),
            "{bad}: {error}"
        );
    }

    let (status, stats) = api.get("/v1/sessions/history/stats").await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    let hours = stats["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    let total = |field: &str| {
        hours
            .iter()
            .map(|h| h[field].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!((total("sent"), total("received")), (2, 1), "{stats}");
    assert_eq!(total("webhookFailures"), 0);
    assert_eq!(stats["outboxDepth"], 0);
    let (status, deliveries) = api.get("/v1/sessions/history/webhook/deliveries").await;
    assert_eq!(
        (status, deliveries),
        (StatusCode::OK, json!({ "deliveries": [] }))
    );

    let (status, host) = api.get("/v1/sessions/history/host").await;
    assert_eq!(status, StatusCode::OK, "{host}");
    match host["backend"].as_str() {
        Some("local") => assert!(host.get("pod").is_none(), "{host}"),
        Some("cluster") => {
            assert!(
                host["resource"].as_str().unwrap().ends_with("/history"),
                "{host}"
            );
            assert!(
                host["pod"].as_str().is_some_and(|p| !p.is_empty()),
                "{host}"
            );
            assert!(!host["conditions"].as_array().unwrap().is_empty(), "{host}");
        }
        other => panic!("backend {other:?}: {host}"),
    }
    let (status, error) = api.get("/v1/sessions/nobody/host").await;
    assert_eq!(
        (status, code(&error)),
        (StatusCode::NOT_FOUND, "session_not_found")
    );
}
