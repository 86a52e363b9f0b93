//! Every kind of message the API sends beyond text and media, through the real engine to
//! the protocol simulator: what the contact's phone decrypted is what was asked, field by
//! field of the protobuf.

use std::time::Duration;

use crate::support::whatsapp;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wagate_wa_sim::Simulator;

const PHONE: &str = "15550002222";
const ANN: &str = "971501234567";
const WAIT: Duration = Duration::from_secs(20);

/// The simulator with the account and Ann, and a real-engine session `id` linked to it
/// that delivers to a webhook receiver.
async fn linked_with_webhook(
    id: &str,
) -> (Simulator, wagate_e2e::WebhookReceiver, whatsapp::Linked) {
    let sim = Simulator::start().await.expect("simulator");
    sim.add_account(PHONE, "Coach Ann").await;
    sim.add_contact(ANN, "Ann", None).await;
    let receiver = wagate_e2e::WebhookReceiver::start().await;
    let linked = whatsapp::linked(&sim, id, PHONE, &["--webhook-url", receiver.url.as_str()]).await;
    (sim, receiver, linked)
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
    let decrypted = whatsapp::send_and_decrypt(
        session,
        &sim,
        ANN,
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
    let decrypted = whatsapp::send_and_decrypt(
        session,
        &sim,
        ANN,
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
    let decrypted = whatsapp::send_and_decrypt(
        session,
        &sim,
        ANN,
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

    let (sim, receiver, linked) = linked_with_webhook("kinds-in").await;
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

/// The edit or revoke a decrypted message carries, wherever the client put it (directly, or
/// inside an `editedMessage` envelope).
fn protocol_message(
    message: &wagate_wa_sim::waproto::whatsapp::Message,
) -> Option<&wagate_wa_sim::waproto::whatsapp::message::ProtocolMessage> {
    message.protocol_message.as_option().or_else(|| {
        message
            .edited_message
            .as_option()
            .and_then(|e| e.message.as_option())
            .and_then(|m| m.protocol_message.as_option())
    })
}

/// Reactions, edits and revokes by message id go through the outbox to WhatsApp as the
/// protocol wants them: the contact decrypts a reactionMessage keyed to the message it sent,
/// and protocolMessages editing and revoking what the session sent.
#[tokio::test]
async fn reactions_edits_and_revokes_reach_the_contact_as_asked() {
    use wagate_wa_sim::waproto::whatsapp::message::protocol_message::Type;

    let (sim, receiver, linked) = linked_with_webhook("actions").await;
    let session = &linked.session;

    // A reaction to what Ann sent: keyed to her message, not from us.
    let inbound = sim.send_text(ANN, PHONE, "Is the class on?").await.unwrap();
    let indexed = wagate_e2e::wait_until(WAIT, || async {
        !receiver.accepted("message.received").is_empty()
    })
    .await;
    assert!(indexed, "Ann's message did not arrive");
    let (status, reacted) = session
        .post(
            &format!("/messages/{inbound}/reaction"),
            json!({ "emoji": "👍" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reacted}");
    let id = reacted["id"].as_str().unwrap().to_string();
    let decrypted = sim
        .wait_delivered(WAIT, |d| d.id == id && d.to == ANN)
        .await
        .expect("the contact decrypted the reaction");
    let reaction = decrypted
        .message
        .reaction_message
        .as_option()
        .expect("a reactionMessage");
    assert_eq!(reaction.text.as_deref(), Some("👍"));
    let key = reaction.key.as_option().expect("the reacted message's key");
    assert_eq!(key.id.as_deref(), Some(inbound.as_str()));
    assert_eq!(key.from_me, Some(false));
    assert_eq!(
        key.remote_jid.as_deref(),
        Some(format!("{ANN}@s.whatsapp.net").as_str())
    );

    // An edit of our own text: a MESSAGE_EDIT keyed to it, with the new text.
    let (_, sent) = session
        .post("/messages", json!({ "to": ANN, "text": "Class at 6" }))
        .await;
    let own = sent["id"].as_str().unwrap().to_string();
    let (status, edited) = session
        .patch(&format!("/messages/{own}"), json!({ "text": "Class at 7" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    let edit_id = edited["id"].as_str().unwrap().to_string();
    let decrypted = sim
        .wait_delivered(WAIT, |d| d.id == edit_id && d.to == ANN)
        .await
        .expect("the contact decrypted the edit");
    let edit = protocol_message(&decrypted.message).expect("a protocolMessage");
    assert_eq!(edit.r#type, Some(Type::MESSAGE_EDIT));
    assert_eq!(
        edit.key.as_option().and_then(|k| k.id.as_deref()),
        Some(own.as_str())
    );
    assert_eq!(
        edit.edited_message
            .as_option()
            .and_then(|m| m.conversation.as_deref()),
        Some("Class at 7")
    );

    // A revoke of it: a REVOKE keyed to it.
    let (status, revoked) = session
        .delete(&format!("/messages/{own}?forEveryone=true"))
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    let revoke = wagate_e2e::wait_until(WAIT, || async {
        sim.delivered().await.iter().any(|d| {
            d.to == ANN
                && protocol_message(&d.message).is_some_and(|p| {
                    p.r#type == Some(Type::REVOKE)
                        && p.key.as_option().and_then(|k| k.id.as_deref()) == Some(own.as_str())
                })
        })
    })
    .await;
    assert!(revoke, "the contact never decrypted the revoke");

    // What cannot be done is refused with the contract's answer.
    let (status, error) = session
        .patch(
            &format!("/messages/{inbound}"),
            json!({ "text": "mine now" }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "someone else's message: {error}"
    );
    let (status, error) = session
        .post(
            "/messages/3EB0FFFFFFFFFFFFFFFFFF/reaction",
            json!({ "emoji": "👍" }),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("message_not_found"))
    );
    let (status, error) = session
        .post(
            &format!("/messages/{inbound}/reaction"),
            json!({ "emoji": "ab" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(error["error"]["details"]["emoji"].is_string(), "{error}");
    let (status, _) = session.delete("/messages/3EB0FFFFFFFFFFFFFFFFFF").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "delete for me of an unknown id"
    );
}

/// A contact reacts to, edits and deletes messages: the webhook gets `message.reaction`,
/// `message.edited` and `message.revoked` with the documented bodies, and none of them as a
/// `message.received`.
#[tokio::test]
async fn a_contacts_reactions_edits_and_revokes_reach_the_webhook() {
    use wa::message::protocol_message::Type;
    use wagate_wa_sim::waproto::buffa::MessageField;
    use wagate_wa_sim::waproto::whatsapp as wa;

    let (sim, receiver, linked) = linked_with_webhook("actions-in").await;
    let session = &linked.session;
    let (_, ours) = session
        .post("/messages", json!({ "to": ANN, "text": "Class at 6" }))
        .await;
    let ours = ours["id"].as_str().unwrap().to_string();
    let chat = format!("{ANN}@s.whatsapp.net");
    let key = |id: &str, from_me: bool| wa::MessageKey {
        remote_jid: Some(chat.clone()),
        from_me: Some(from_me),
        id: Some(id.to_string()),
        ..Default::default()
    };
    let reaction = |emoji: &str| wa::Message {
        reaction_message: MessageField::some(wa::message::ReactionMessage {
            // From Ann's phone our message is not hers.
            key: MessageField::some(key(&ours, false)),
            text: Some(emoji.into()),
            sender_timestamp_ms: Some(1),
            ..Default::default()
        }),
        ..Default::default()
    };
    sim.send_message(ANN, PHONE, &reaction("❤️"), "text")
        .await
        .unwrap();
    sim.send_message(ANN, PHONE, &reaction(""), "text")
        .await
        .unwrap();
    let hers = sim.send_text(ANN, PHONE, "I will be late").await.unwrap();
    let edit = wa::Message {
        protocol_message: MessageField::some(wa::message::ProtocolMessage {
            key: MessageField::some(key(&hers, true)),
            r#type: Some(Type::MESSAGE_EDIT),
            edited_message: MessageField::some(wa::Message {
                conversation: Some("I will be on time".into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    sim.send_message(ANN, PHONE, &edit, "text").await.unwrap();
    let revoke = wa::Message {
        protocol_message: MessageField::some(wa::message::ProtocolMessage {
            key: MessageField::some(key(&hers, true)),
            r#type: Some(Type::REVOKE),
            ..Default::default()
        }),
        ..Default::default()
    };
    sim.send_message(ANN, PHONE, &revoke, "text").await.unwrap();

    let data = |event: &str| -> Vec<Value> {
        receiver
            .accepted(event)
            .iter()
            .map(|d| d.json()["data"].clone())
            .collect()
    };
    let arrived = wagate_e2e::wait_until(WAIT, || async {
        data("message.reaction").len() == 2
            && data("message.edited").len() == 1
            && data("message.revoked").len() == 1
    })
    .await;
    assert!(
        arrived,
        "reactions {:?}, edits {:?}, revokes {:?}",
        data("message.reaction"),
        data("message.edited"),
        data("message.revoked")
    );
    assert_eq!(
        data("message.reaction"),
        [
            json!({ "messageId": ours, "from": ANN, "chat": chat, "emoji": "❤️", "removed": false }),
            json!({ "messageId": ours, "from": ANN, "chat": chat, "emoji": "", "removed": true }),
        ]
    );
    assert_eq!(
        data("message.edited"),
        [json!({ "messageId": hers, "from": ANN, "chat": chat, "text": "I will be on time" })]
    );
    assert_eq!(
        data("message.revoked"),
        [json!({ "messageId": hers, "from": ANN, "chat": chat })]
    );
    let received: Vec<_> = data("message.received")
        .iter()
        .map(|d| d["messageId"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(received, [hers], "only the text was a received message");
}

/// Mentions and quotes both ways: a send with `mentions` and `replyTo` reaches the contact
/// as an extendedTextMessage whose contextInfo names them; the contact's reply that quotes
/// and mentions reaches the webhook with `quoted` and `mentions`.
#[tokio::test]
async fn mentions_and_quotes_go_both_ways() {
    use wagate_wa_sim::waproto::buffa::MessageField;
    use wagate_wa_sim::waproto::whatsapp as wa;

    let (sim, receiver, linked) = linked_with_webhook("mentions").await;
    let session = &linked.session;

    let decrypted = whatsapp::send_and_decrypt(
        session,
        &sim,
        ANN,
        json!({ "to": ANN, "text": format!("Welcome @{ANN}!"), "mentions": [format!("+{ANN}")],
                "replyTo": "3EB0CCCCCCCCCCCCCCCCCC" }),
    )
    .await;
    let text = decrypted
        .message
        .extended_text_message
        .as_option()
        .expect("an extendedTextMessage");
    assert_eq!(
        text.text.as_deref(),
        Some(format!("Welcome @{ANN}!").as_str())
    );
    let context = text.context_info.as_option().expect("a contextInfo");
    assert_eq!(context.mentioned_jid, [format!("{ANN}@s.whatsapp.net")]);
    assert_eq!(context.stanza_id.as_deref(), Some("3EB0CCCCCCCCCCCCCCCCCC"));

    let reply = wa::Message {
        extended_text_message: MessageField::some(wa::message::ExtendedTextMessage {
            text: Some(format!("Thanks @{PHONE}")),
            context_info: MessageField::some(wa::ContextInfo {
                stanza_id: Some(decrypted.id.clone()),
                participant: Some(format!("{PHONE}@s.whatsapp.net")),
                mentioned_jid: vec![format!("{PHONE}@s.whatsapp.net")],
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let id = sim.send_message(ANN, PHONE, &reply, "text").await.unwrap();
    let event = || {
        receiver
            .accepted("message.received")
            .iter()
            .map(|d| d.json()["data"].clone())
            .find(|d| d["messageId"] == id)
    };
    let arrived = wagate_e2e::wait_until(WAIT, || async { event().is_some() }).await;
    assert!(arrived, "the reply did not reach the webhook");
    let data = event().unwrap();
    assert_eq!(
        data["quoted"],
        json!({ "messageId": decrypted.id, "from": PHONE })
    );
    assert_eq!(data["mentions"], json!([PHONE]));
    assert_eq!(data["text"], format!("Thanks @{PHONE}"));

    // Replying to her reply quotes it whole: its author and its words, as WhatsApp's apps
    // send a quote (her app shows it without looking the message up); a reply to our own
    // message names us as the author.
    let sim = &sim;
    let reply = |text: &'static str, to: String| async move {
        let decrypted =
            whatsapp::send_and_decrypt(session, sim, ANN, json!({ "text": text, "replyTo": to }))
                .await;
        let context = decrypted
            .message
            .extended_text_message
            .as_option()
            .and_then(|m| m.context_info.as_option())
            .expect("a reply's contextInfo");
        let quoted = (
            context.stanza_id.clone(),
            context.participant.clone(),
            context
                .quoted_message
                .as_option()
                .and_then(|m| m.conversation.clone()),
        );
        (decrypted.id, quoted)
    };
    let (own, quoted) = reply("Any time", id.clone()).await;
    assert_eq!(
        quoted,
        (
            Some(id),
            Some(format!("{ANN}@s.whatsapp.net")),
            Some(format!("Thanks @{PHONE}"))
        )
    );
    let (_, quoted) = reply("(that was me)", own.clone()).await;
    assert_eq!(
        quoted,
        (
            Some(own),
            Some(format!("{PHONE}@s.whatsapp.net")),
            Some("Any time".to_string())
        )
    );
}

/// Read receipts, typing and online presence reach WhatsApp as the protocol has them: the
/// contact's message gets a `read` receipt, the chat a `<chatstate>` per state, the account
/// `<presence>`.
#[tokio::test]
async fn read_receipts_chat_states_and_presence_reach_whatsapp() {
    let (sim, receiver, linked) = linked_with_webhook("receipts").await;
    let session = &linked.session;
    let first = sim.send_text(ANN, PHONE, "one").await.unwrap();
    let second = sim.send_text(ANN, PHONE, "two").await.unwrap();
    let arrived = wagate_e2e::wait_until(WAIT, || async {
        receiver.accepted("message.received").len() == 2
    })
    .await;
    assert!(arrived, "the two messages did not arrive");

    // Everything unread in the chat, once.
    let (status, read) = session.post(&format!("/chats/{ANN}/read"), json!({})).await;
    assert_eq!((status, read), (StatusCode::OK, json!({ "read": 2 })));
    let receipted = wagate_e2e::wait_until(WAIT, || async {
        let receipts = sim.client_receipts().await;
        [&first, &second]
            .iter()
            .all(|id| receipts.iter().any(|r| &r.id == *id && r.kind == "read"))
    })
    .await;
    assert!(receipted, "{:?}", sim.client_receipts().await);
    let (_, again) = session.post(&format!("/chats/{ANN}/read"), json!({})).await;
    assert_eq!(again, json!({ "read": 0 }), "nothing left unread");
    let (status, error) = session
        .post(
            &format!("/chats/{ANN}/read"),
            json!({ "messageIds": ["3EB0NOPE"] }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");

    for state in ["composing", "recording", "paused"] {
        let (status, body) = session
            .post(
                &format!("/chats/+{ANN}/presence"),
                json!({ "state": state }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{state}: {body}");
    }
    for available in [true, false] {
        let (status, body) = session
            .put("/presence", json!({ "available": available }))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let signalled = wagate_e2e::wait_until(WAIT, || async {
        let signals = sim.client_signals().await;
        let chat_states: Vec<_> = signals
            .iter()
            .filter(|s| {
                s.tag == "chatstate" && s.to.as_deref() == Some(&format!("{ANN}@s.whatsapp.net"))
            })
            .map(|s| s.state.clone())
            .collect();
        let presences: Vec<_> = signals
            .iter()
            .filter(|s| s.tag == "presence")
            .map(|s| s.state.clone())
            .collect();
        chat_states == ["composing", "recording", "paused"]
            && presences.ends_with(&["available".to_string(), "unavailable".to_string()])
    })
    .await;
    assert!(signalled, "{:?}", sim.client_signals().await);
}

/// What the account's owner types on the linked phone reaches the webhook too, marked
/// `fromMe` (so an app sees the whole conversation), and is the session's own message for
/// actions by id: the API can edit it.
#[tokio::test]
async fn messages_typed_on_the_phone_reach_the_webhook_as_from_me() {
    use wagate_wa_sim::waproto::whatsapp as wa;

    let (sim, receiver, linked) = linked_with_webhook("from-phone").await;
    let session = &linked.session;
    let typed = wa::Message {
        conversation: Some("On my way".into()),
        ..Default::default()
    };
    let id = sim.phone_sends(PHONE, ANN, &typed).await.unwrap();
    let event = || {
        receiver
            .accepted("message.received")
            .iter()
            .map(|d| d.json()["data"].clone())
            .find(|d| d["messageId"] == id)
    };
    let arrived = wagate_e2e::wait_until(WAIT, || async { event().is_some() }).await;
    assert!(arrived, "the phone's message did not reach the webhook");
    let data = event().unwrap();
    assert_eq!(data["fromMe"], true, "{data}");
    assert_eq!(data["from"], PHONE, "{data}");
    assert_eq!(data["chat"], format!("{ANN}@s.whatsapp.net"), "{data}");
    assert_eq!(data["text"], "On my way", "{data}");

    let (status, message) = session.get(&format!("/messages/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{message}");
    assert_eq!(message["fromMe"], true, "{message}");
    let (status, edited) = session
        .patch(
            &format!("/messages/{id}"),
            json!({ "text": "On my way (10 min)" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    let edit = edited["id"].as_str().unwrap().to_string();
    let decrypted = sim
        .wait_delivered(WAIT, |d| d.id == edit && d.to == ANN)
        .await
        .expect("Ann's phone decrypted the edit");
    let protocol = protocol_message(&decrypted.message).expect("a protocolMessage");
    assert_eq!(
        protocol.key.as_option().and_then(|k| k.id.as_deref()),
        Some(id.as_str())
    );
}

/// "Delete for me" is an app-state mutation every device of the account applies: the
/// account's phone decrypts it (with the sync key it shared) and finds the message named.
#[tokio::test]
async fn a_message_deleted_for_me_reaches_the_phone_as_an_app_state_mutation() {
    let (sim, receiver, linked) = linked_with_webhook("for-me").await;
    let session = &linked.session;
    let id = sim.send_text(ANN, PHONE, "delete me").await.unwrap();
    let arrived = wagate_e2e::wait_until(WAIT, || async {
        !receiver.accepted("message.received").is_empty()
    })
    .await;
    assert!(arrived, "Ann's message did not arrive");
    let (status, body) = session.delete(&format!("/messages/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let mutations = sim.app_state_mutations().await;
    let deleted = mutations
        .iter()
        .find(|m| m.index.first().map(String::as_str) == Some("deleteMessageForMe"))
        .unwrap_or_else(|| panic!("no deleteMessageForMe among {mutations:?}"));
    assert_eq!(
        deleted.index,
        [
            "deleteMessageForMe",
            &format!("{ANN}@s.whatsapp.net"),
            &id,
            "0",
            "0"
        ]
    );
    let action = deleted
        .value
        .as_ref()
        .and_then(|v| v.delete_message_for_me_action.as_option())
        .expect("a deleteMessageForMeAction");
    assert_eq!(action.delete_media, Some(true));
    let (status, _) = session.get(&format!("/messages/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the index forgot it");
}
