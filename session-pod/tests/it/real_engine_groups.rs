//! Groups through the real engine and the protocol simulator: a send to a `@g.us` group is
//! encrypted once under the session's sender key, which each member's phone got pairwise
//! first; every member decrypts what was sent. A member's message (its own sender key,
//! then the message) reaches the webhook with the group as `chat` and the member as `from`.

use std::time::Duration;

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::json;
use wagate_wa_sim::waproto::whatsapp as wa;
use wagate_wa_sim::{Admin, Simulator};

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

    // A text, then an image: each of the three members' phones decrypts them with the
    // session's sender key, and downloads the image's bytes.
    let photo: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sends = [
        json!({ "to": group, "text": "Class moves to 7 tomorrow" }),
        json!({ "to": group, "media": { "type": "image", "mimeType": "image/jpeg",
            "data": base64::engine::general_purpose::STANDARD.encode(&photo),
            "caption": "The new room" } }),
    ];
    let mut ids = Vec::new();
    for body in sends {
        let (status, sent) = session.post("/messages", body).await;
        assert_eq!(status, StatusCode::OK, "{sent}");
        ids.push(sent["id"].as_str().unwrap().to_string());
    }
    for member in MEMBERS {
        let got: Vec<_> = futures::future::join_all(
            ids.iter()
                .map(|id| sim.wait_delivered(WAIT, move |d| d.id == *id && d.to == member)),
        )
        .await;
        let [Some(text), Some(image)] = &got[..] else {
            panic!("{member} did not decrypt both group messages: {got:?}");
        };
        assert_eq!(text.group.as_deref(), Some(group.as_str()));
        assert_eq!(text.text.as_deref(), Some("Class moves to 7 tomorrow"));
        assert_eq!(image.group.as_deref(), Some(group.as_str()));
        let caption = image
            .message
            .image_message
            .as_option()
            .and_then(|i| i.caption.as_deref());
        assert_eq!(caption, Some("The new room"));
        let bytes = sim
            .download_attachment(image)
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
