//! Every kind of message the API sends beyond text and media, through the real engine to
//! the protocol simulator: what the contact's phone decrypted is what was asked, field by
//! field of the protobuf.

use std::time::Duration;

use crate::support::whatsapp;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wagate_wa_sim::{Delivered, Simulator};

const PHONE: &str = "15550002222";
const ANN: &str = "971501234567";
const WAIT: Duration = Duration::from_secs(20);

async fn send_and_decrypt(
    session: &wagate_e2e::SessionProcess,
    sim: &Simulator,
    body: Value,
) -> Delivered {
    let (status, sent) = session.post("/messages", body).await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let id = sent["id"].as_str().unwrap().to_string();
    sim.wait_delivered(WAIT, |d| d.id == id && d.to == ANN)
        .await
        .expect("the contact's phone decrypted the message")
}

#[tokio::test]
async fn locations_and_contact_cards_arrive_as_asked() {
    let sim = Simulator::start().await.expect("simulator");
    sim.add_account(PHONE, "Coach Ann").await;
    sim.add_contact(ANN, "Ann", None).await;
    let linked = whatsapp::linked(&sim, "kinds", PHONE, &[]).await;
    let session = &linked.session;

    // A location, quoting an earlier message.
    let quoted = "3EB0AAAAAAAAAAAAAAAAAA";
    let decrypted = send_and_decrypt(
        session,
        &sim,
        json!({ "to": ANN, "replyTo": quoted, "location": {
            "latitude": 25.1972, "longitude": 55.2744,
            "name": "Burj Khalifa", "address": "1 Sheikh Mohammed bin Rashid Blvd, Dubai" } }),
    )
    .await;
    let location = decrypted
        .message
        .location_message
        .as_option()
        .expect("a locationMessage");
    assert_eq!(
        (location.degrees_latitude, location.degrees_longitude),
        (Some(25.1972), Some(55.2744))
    );
    assert_eq!(location.name.as_deref(), Some("Burj Khalifa"));
    assert_eq!(
        location.address.as_deref(),
        Some("1 Sheikh Mohammed bin Rashid Blvd, Dubai")
    );
    assert_eq!(
        location
            .context_info
            .as_option()
            .and_then(|c| c.stanza_id.as_deref()),
        Some(quoted)
    );

    // One contact: a contactMessage whose vCard 3.0 offers WhatsApp for the number.
    let decrypted = send_and_decrypt(
        session,
        &sim,
        json!({ "to": ANN, "contacts": [{
            "fullName": "Shop Support, Berlin",
            "phones": [{ "number": "+49 151 1234 5678", "label": "WORK" }],
            "organization": "Shop GmbH", "email": "help@shop.example" }] }),
    )
    .await;
    let contact = decrypted
        .message
        .contact_message
        .as_option()
        .expect("a contactMessage");
    assert_eq!(
        contact.display_name.as_deref(),
        Some("Shop Support, Berlin")
    );
    let vcard = contact
        .vcard
        .clone()
        .unwrap_or_default()
        .replace("\r\n", "\n");
    for line in [
        "BEGIN:VCARD",
        "VERSION:3.0",
        "FN:Shop Support\\, Berlin",
        "TEL;TYPE=WORK;waid=4915112345678:+4915112345678",
        "ORG:Shop GmbH",
        "EMAIL;TYPE=INTERNET:help@shop.example",
        "END:VCARD",
    ] {
        assert!(vcard.lines().any(|l| l == line), "no {line:?} in\n{vcard}");
    }

    // Two: one contactsArrayMessage; a vCard given whole goes as it is.
    let raw = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Raw Card\r\nTEL;type=CELL;waid=15551230000:+1 555 123 0000\r\nEND:VCARD";
    let decrypted = send_and_decrypt(
        session,
        &sim,
        json!({ "to": ANN, "contacts": [
            { "fullName": "Ann", "phones": [{ "number": ANN }] },
            { "fullName": "Raw Card", "vcard": raw } ] }),
    )
    .await;
    let array = decrypted
        .message
        .contacts_array_message
        .as_option()
        .expect("a contactsArrayMessage");
    let names: Vec<_> = array
        .contacts
        .iter()
        .map(|c| c.display_name.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(names, ["Ann", "Raw Card"]);
    assert_eq!(array.contacts[1].vcard.as_deref(), Some(raw));
    assert!(
        array.contacts[0]
            .vcard
            .as_deref()
            .is_some_and(|v| v.contains(&format!("waid={ANN}"))),
        "{:?}",
        array.contacts[0].vcard
    );

    // What cannot be sent is refused before anything is queued, naming the field.
    for (body, field) in [
        (
            json!({ "to": ANN, "location": { "latitude": 91.0, "longitude": 0.0 } }),
            "location.latitude",
        ),
        (json!({ "to": ANN, "contacts": [] }), "contacts"),
        (
            json!({ "to": ANN, "contacts": [{ "fullName": "X", "phones": [{ "number": "12" }] }] }),
            "contacts[0].phones[0].number",
        ),
        (
            json!({ "to": ANN, "text": "hi", "location": { "latitude": 1.0, "longitude": 1.0 } }),
            "text",
        ),
    ] {
        let (status, error) = session.post("/messages", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert!(
            error["error"]["details"][field].is_string(),
            "{body}: {error}"
        );
    }
}

/// A contact shares a location and contact cards: the webhook's `message.received` carries
/// them structured (`location`, `contacts`), as decrypted by the real engine.
#[tokio::test]
async fn shared_locations_and_cards_reach_the_webhook() {
    use wagate_wa_sim::waproto::buffa::MessageField;
    use wagate_wa_sim::waproto::whatsapp as wa;

    let sim = Simulator::start().await.expect("simulator");
    sim.add_account(PHONE, "Coach Ann").await;
    sim.add_contact(ANN, "Ann", None).await;
    let receiver = wagate_e2e::WebhookReceiver::start().await;
    let linked = whatsapp::linked(
        &sim,
        "kinds-in",
        PHONE,
        &["--webhook-url", receiver.url.as_str()],
    )
    .await;
    let _session = &linked.session;

    let pin = wa::Message {
        location_message: MessageField::some(wa::message::LocationMessage {
            degrees_latitude: Some(48.8584),
            degrees_longitude: Some(2.2945),
            name: Some("Tour Eiffel".into()),
            address: Some("Champ de Mars, Paris".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let card = |name: &str, number: &str| wa::message::ContactMessage {
        display_name: Some(name.into()),
        vcard: Some(format!(
            "BEGIN:VCARD\nVERSION:3.0\nFN:{name}\nTEL;type=CELL;waid={number}:+{number}\nEND:VCARD"
        )),
        ..Default::default()
    };
    let cards = wa::Message {
        contacts_array_message: MessageField::some(wa::message::ContactsArrayMessage {
            display_name: Some("2 contacts".into()),
            contacts: vec![card("Bob", "15551110001"), card("Eve", "15551110002")],
            ..Default::default()
        }),
        ..Default::default()
    };
    let pin_id = sim.send_message(ANN, PHONE, &pin, "media").await.unwrap();
    let cards_id = sim.send_message(ANN, PHONE, &cards, "media").await.unwrap();

    let event_of = |id: &str| {
        receiver
            .accepted("message.received")
            .iter()
            .map(|d| d.json()["data"].clone())
            .find(|data| data["messageId"] == id)
    };
    let arrived = wagate_e2e::wait_until(WAIT, || async {
        event_of(&pin_id).is_some() && event_of(&cards_id).is_some()
    })
    .await;
    assert!(arrived, "{:?}", receiver.accepted("message.received").len());
    let location = event_of(&pin_id).unwrap();
    assert_eq!(location["type"], "location", "{location}");
    assert_eq!(
        location["location"],
        json!({ "latitude": 48.8584, "longitude": 2.2945,
                "name": "Tour Eiffel", "address": "Champ de Mars, Paris" })
    );
    assert_eq!(location["from"], ANN);
    let contacts = event_of(&cards_id).unwrap();
    assert_eq!(contacts["type"], "contact", "{contacts}");
    let names: Vec<_> = contacts["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["displayName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["Bob", "Eve"]);
    assert!(
        contacts["contacts"][1]["vcard"]
            .as_str()
            .unwrap()
            .contains("waid=15551110002"),
        "{contacts}"
    );
}
