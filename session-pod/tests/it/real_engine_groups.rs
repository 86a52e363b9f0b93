//! Groups through the real engine and the protocol simulator: a send to a `@g.us` group is
//! encrypted once under the session's sender key, which each member's phone got pairwise
//! first; every member decrypts what was sent. A member's message (its own sender key,
//! then the message) reaches the webhook with the group as `chat` and the member as `from`.

use std::time::Duration;

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::json;
use wagate_wa_sim::waproto::whatsapp as wa;
use wagate_wa_sim::{Admin, MediaType, Simulator};

use crate::support::whatsapp;

const PHONE: &str = "15550005555";
const MEMBERS: [&str; 3] = ["971501234567", "971501234568", "971501234569"];
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn group_sends_reach_every_member_and_members_messages_reach_the_webhook() {
    let sim = Simulator::start().await.expect("simulator");
    sim.add_account(PHONE, "Coach Ann").await;
    for (member, name) in MEMBERS.iter().zip(["Ann", "Bob", "Cat"]) {
        sim.add_contact(member, name, None).await;
    }
    let mut members = vec![(PHONE, Admin::Superadmin)];
    members.extend(MEMBERS.iter().map(|m| (*m, Admin::No)));
    let group = sim.add_group("Morning yoga", &members).await;
    let receiver = wagate_e2e::WebhookReceiver::start().await;
    let linked = whatsapp::linked(
        &sim,
        "groups",
        PHONE,
        &["--webhook-url", receiver.url.as_str()],
    )
    .await;
    let session = &linked.session;

    // A text: each of the three members' phones decrypts it with the session's sender key.
    let (status, sent) = session
        .post(
            "/messages",
            json!({ "to": group, "text": "Class moves to 7 tomorrow" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let id = sent["id"].as_str().unwrap().to_string();
    for member in MEMBERS {
        let got = sim
            .wait_delivered(WAIT, |d| d.id == id && d.to == member)
            .await
            .unwrap_or_else(|| panic!("{member} did not decrypt the group message"));
        assert_eq!(got.group.as_deref(), Some(group.as_str()));
        assert_eq!(got.text.as_deref(), Some("Class moves to 7 tomorrow"));
    }

    // An image: the same sender key, and each member downloads the same bytes.
    let photo: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (status, sent) = session
        .post(
            "/messages",
            json!({ "to": group, "media": { "type": "image", "mimeType": "image/jpeg",
                "data": base64::engine::general_purpose::STANDARD.encode(&photo),
                "caption": "The new room" } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let id = sent["id"].as_str().unwrap().to_string();
    for member in MEMBERS {
        let got = sim
            .wait_delivered(WAIT, |d| d.id == id && d.to == member)
            .await
            .unwrap_or_else(|| panic!("{member} did not decrypt the group image"));
        let image = got
            .message
            .image_message
            .as_option()
            .expect("an imageMessage");
        assert_eq!(image.caption.as_deref(), Some("The new room"));
        let bytes = sim
            .download_media(
                image.direct_path.as_deref().unwrap(),
                image.media_key.as_deref().unwrap(),
                MediaType::Image,
            )
            .expect("the member decrypts the image");
        assert_eq!(bytes, photo, "{member}");
    }

    // Bob writes to the group.
    let text = wa::Message {
        conversation: Some("See you there".into()),
        ..Default::default()
    };
    let bob = MEMBERS[1];
    let id = sim.send_group_message(bob, &group, &text).await.unwrap();
    let arrived = wagate_e2e::wait_until(WAIT, || async {
        receiver
            .accepted("message.received")
            .iter()
            .any(|d| d.json()["data"]["messageId"] == id)
    })
    .await;
    assert!(arrived, "Bob's group message did not reach the webhook");
    let data = receiver
        .accepted("message.received")
        .into_iter()
        .map(|d| d.json()["data"].clone())
        .find(|d| d["messageId"] == id)
        .unwrap();
    assert_eq!(data["chat"], group, "{data}");
    assert_eq!(data["from"], bob, "{data}");
    assert_eq!(data["isGroup"], true, "{data}");
    assert_eq!(data["text"], "See you there", "{data}");
    assert_eq!(data["pushName"], "Bob", "{data}");
}
