//! The account's own profile and its blocklist through the real engine, against what the
//! protocol simulator's server then holds: the name and about text, a picture cropped and
//! sized to WhatsApp's 640 × 640 JPEG (and its removal), and blocking, after which the
//! blocked contact's messages no longer arrive.

use std::io::Cursor;

use base64::Engine as _;
use image::{DynamicImage, ImageFormat, RgbImage};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wagate_wa_sim::Simulator;

use crate::support::whatsapp;

const PHONE: &str = "15550008888";
const ANN: &str = "971501250001";
const NOBODY: &str = "971509990000";

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn image_bytes(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let image = DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    }));
    let mut out = Vec::new();
    image.write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

/// The side lengths of the JPEG the simulator's server holds as the account's picture.
async fn held_picture(sim: &Simulator) -> Option<(u32, u32)> {
    let (_, jpeg) = sim.account_profile(PHONE).await?.picture?;
    let image = image::load_from_memory_with_format(&jpeg, ImageFormat::Jpeg).expect("a JPEG");
    Some((image.width(), image.height()))
}

#[tokio::test]
async fn own_profile_is_read_and_changed_on_the_real_engine() {
    let sim = Simulator::start().await.expect("simulator");
    sim.add_account(PHONE, "Coach Ann").await;
    let linked = whatsapp::linked(&sim, "profile", PHONE, &[]).await;
    let session = &linked.session;

    let (status, profile) = session.get("/profile").await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert_eq!(profile["phone"], PHONE, "{profile}");
    assert_eq!(
        profile["lid"],
        sim.lid_of(PHONE).await.unwrap(),
        "{profile}"
    );
    assert_eq!(profile["pushName"], "Coach Ann", "{profile}");
    assert_eq!(
        profile["about"], "Hey there! I am using WhatsApp.",
        "{profile}"
    );
    assert_eq!(profile["profilePictureUrl"], Value::Null, "{profile}");

    let (status, changed) = session
        .patch(
            "/profile",
            json!({ "pushName": "Coach Anna", "about": "Training daily" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (&changed["pushName"], &changed["about"]),
        (&json!("Coach Anna"), &json!("Training daily")),
        "{changed}"
    );
    let held = sim.account_profile(PHONE).await.unwrap();
    assert_eq!(
        (held.push_name.as_str(), held.about.as_deref()),
        ("Coach Anna", Some("Training daily"))
    );
    for (bad, field) in [
        (json!({ "pushName": "x".repeat(26) }), "pushName"),
        (json!({ "about": "x".repeat(140) }), "about"),
        (json!({}), "body"),
    ] {
        let (status, error) = session.patch("/profile", bad).await;
        assert_eq!(
            (status, code(&error)),
            (StatusCode::BAD_REQUEST, "validation_error"),
            "{error}"
        );
        assert!(error["error"]["details"][field].is_string(), "{error}");
    }

    // A wide PNG as the body: WhatsApp gets its centre square at 640 × 640, as a JPEG.
    let response = session
        .client()
        .put(session.url("/profile/picture"))
        .bearer_auth(wagate_e2e::KEY)
        .header("content-type", "image/png")
        .body(image_bytes(1600, 900, ImageFormat::Png))
        .send()
        .await
        .unwrap();
    let (status, with_picture) = wagate_e2e::decode(response).await;
    assert_eq!(status, StatusCode::OK, "{with_picture}");
    assert!(
        with_picture["profilePictureUrl"].is_string(),
        "{with_picture}"
    );
    assert_eq!(held_picture(&sim).await, Some((640, 640)));
    // A small JPEG as base64 JSON keeps its size (cropped square).
    let (status, _) = session
        .put(
            "/profile/picture",
            json!({ "data": base64::engine::general_purpose::STANDARD
                .encode(image_bytes(300, 420, ImageFormat::Jpeg)) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(held_picture(&sim).await, Some((300, 300)));
    for (content_type, body, expected) in [
        (
            "image/png",
            b"not a picture".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "image/png",
            image_bytes(100, 100, ImageFormat::Png),
            StatusCode::BAD_REQUEST,
        ),
        (
            "text/plain",
            b"hello".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ] {
        let response = session
            .client()
            .put(session.url("/profile/picture"))
            .bearer_auth(wagate_e2e::KEY)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "{content_type}");
    }
    assert_eq!(held_picture(&sim).await, Some((300, 300)), "unchanged");

    let (status, _) = session.delete("/profile/picture").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(held_picture(&sim).await, None);
    let (_, profile) = session.get("/profile").await;
    assert_eq!(profile["profilePictureUrl"], Value::Null, "{profile}");
}

#[tokio::test]
async fn contacts_are_blocked_and_unblocked_on_the_real_engine() {
    let sim = Simulator::start().await.expect("simulator");
    sim.add_account(PHONE, "Coach Ann").await;
    sim.add_contact(ANN, "Ann", None).await;
    let linked = whatsapp::linked(&sim, "blocking", PHONE, &[]).await;
    let session = &linked.session;
    let ann_lid = sim.lid_of(ANN).await.unwrap();

    let (status, list) = session.get("/blocklist").await;
    assert_eq!((status, &list), (StatusCode::OK, &json!({ "blocked": [] })));
    // Never seen before: the session learns Ann's LID first, as WhatsApp blocks by LID.
    let (status, list) = session
        .post(&format!("/contacts/+{ANN}/block"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(
        list,
        json!({ "blocked": [{ "jid": ann_lid, "phone": ANN, "lid": ann_lid }] })
    );
    assert_eq!(sim.blocked_by(PHONE).await, [ANN]);
    assert!(
        sim.send_text(ANN, PHONE, "are you there?").await.is_err(),
        "WhatsApp does not deliver what a blocked contact sends"
    );
    let (status, list) = session.get("/blocklist").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["blocked"][0]["phone"], ANN, "{list}");

    let (status, list) = session.delete(&format!("/contacts/{ann_lid}/block")).await;
    assert_eq!((status, &list), (StatusCode::OK, &json!({ "blocked": [] })));
    assert!(sim.blocked_by(PHONE).await.is_empty());
    sim.send_text(ANN, PHONE, "hi again")
        .await
        .expect("delivered once unblocked");

    let (status, error) = session
        .post(&format!("/contacts/{NOBODY}/block"), json!({}))
        .await;
    assert_eq!(
        (status, code(&error)),
        (StatusCode::NOT_FOUND, "number_not_on_whatsapp"),
        "{error}"
    );
    let (status, error) = session
        .post("/contacts/120363000000000001@g.us/block", json!({}))
        .await;
    assert_eq!(
        (status, code(&error)),
        (StatusCode::BAD_REQUEST, "validation_error")
    );
}
