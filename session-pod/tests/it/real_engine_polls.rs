//! Polls and typing through the real engine and the protocol simulator: the contact's phone
//! decrypts the poll the API asked for (with its secret), votes with that secret as a phone
//! does, and the session opens the votes, tallies them and tells the webhook; contacts'
//! typing reaches the webhook as `chat.presence`.

use std::time::Duration;

use crate::support::whatsapp;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wagate_wa_sim::waproto::buffa::MessageField;
use wagate_wa_sim::waproto::whatsapp as wa;
use wagate_wa_sim::{PollRef, Simulator, Typing, poll_vote};

const PHONE: &str = "15550003333";
const ANN: &str = "971501234567";
const WAIT: Duration = Duration::from_secs(20);

fn jid(phone: &str) -> String {
    format!("{phone}@s.whatsapp.net")
}

async fn linked_with_webhook(
    id: &str,
) -> (Simulator, wagate_e2e::WebhookReceiver, whatsapp::Linked) {
    let sim = Simulator::start().await.expect("simulator");
    sim.add_account(PHONE, "Coach Ann").await;
    sim.add_contact(ANN, "Ann", None).await;
    let receiver = wagate_e2e::WebhookReceiver::start().await;
    // Typing reaches a webhook only when it asks for it.
    let events = "message.received,poll.vote,chat.presence";
    let linked = whatsapp::linked(
        &sim,
        id,
        PHONE,
        &[
            "--webhook-url",
            receiver.url.as_str(),
            "--webhook-events",
            events,
        ],
    )
    .await;
    (sim, receiver, linked)
}

/// The `data` of every `kind` event the webhook accepted so far, oldest first.
fn events(receiver: &wagate_e2e::WebhookReceiver, kind: &str) -> Vec<Value> {
    receiver
        .accepted(kind)
        .iter()
        .map(|d| d.json()["data"].clone())
        .collect()
}

async fn wait_events(
    receiver: &wagate_e2e::WebhookReceiver,
    kind: &str,
    count: usize,
) -> Vec<Value> {
    let arrived =
        wagate_e2e::wait_until(WAIT, || async { events(receiver, kind).len() >= count }).await;
    assert!(
        arrived,
        "{count} {kind} events: {:?}",
        events(receiver, kind)
    );
    events(receiver, kind)
}

fn tally(message: &Value) -> Vec<(String, Vec<String>)> {
    message["votes"]
        .as_array()
        .unwrap_or_else(|| panic!("no votes in {message}"))
        .iter()
        .map(|o| {
            let voters = o["voters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            (o["option"].as_str().unwrap().to_string(), voters)
        })
        .collect()
}

fn picks(pairs: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    pairs
        .iter()
        .map(|(o, v)| (o.to_string(), v.iter().map(|s| s.to_string()).collect()))
        .collect()
}

#[tokio::test]
async fn polls_reach_the_contact_and_its_votes_are_opened_and_tallied() {
    let (sim, receiver, linked) = linked_with_webhook("polls").await;
    let session = &linked.session;

    // The API's poll, as Ann's phone decrypts it: question, options, any number of picks,
    // and the 32-byte secret votes are encrypted with.
    let decrypted = whatsapp::send_and_decrypt(
        session,
        &sim,
        ANN,
        json!({ "poll": { "question": "Lunch?", "options": ["Pizza", "Sushi", "Salad"] } }),
    )
    .await;
    let poll_id = decrypted.id.clone();
    let poll = decrypted
        .message
        .poll_creation_message
        .as_option()
        .expect("a pollCreationMessage (several picks allowed)");
    assert_eq!(poll.name.as_deref(), Some("Lunch?"));
    let options: Vec<_> = poll
        .options
        .iter()
        .map(|o| o.option_name.clone().unwrap_or_default())
        .collect();
    assert_eq!(options, ["Pizza", "Sushi", "Salad"]);
    assert_eq!(poll.selectable_options_count, Some(0));
    let secret = decrypted
        .message
        .message_context_info
        .as_option()
        .and_then(|c| c.message_secret.clone())
        .expect("the poll's secret");
    assert_eq!(secret.len(), 32);

    // Ann votes as her phone would: encrypted with that secret, keyed to the session's
    // number as creator and hers as voter.
    let ours = PollRef {
        id: &poll_id,
        chat: &jid(PHONE),
        creator: &jid(PHONE),
        from_me: false,
        secret: &secret,
    };
    // A vote encrypted with another secret does not open: no event, no tally.
    let forged = PollRef {
        secret: &[1; 32],
        ..ours
    };
    let vote = poll_vote(&forged, &jid(ANN), &["Sushi"]).unwrap();
    sim.send_message(ANN, PHONE, &vote, "poll").await.unwrap();
    let vote = poll_vote(&ours, &jid(ANN), &["Pizza", "Salad"]).unwrap();
    sim.send_message(ANN, PHONE, &vote, "poll").await.unwrap();
    let votes = wait_events(&receiver, "poll.vote", 1).await;
    assert_eq!(
        votes[0],
        json!({ "pollId": poll_id, "from": ANN, "chat": jid(ANN),
                "selectedOptions": ["Pizza", "Salad"] })
    );
    let (status, message) = session.get(&format!("/messages/{poll_id}")).await;
    assert_eq!(status, StatusCode::OK, "{message}");
    assert_eq!(message["type"], "poll", "{message}");
    assert_eq!(
        tally(&message),
        picks(&[("Pizza", &[ANN]), ("Sushi", &[]), ("Salad", &[ANN])])
    );

    // She changes her mind: her latest vote counts.
    let vote = poll_vote(&ours, &jid(ANN), &["Sushi"]).unwrap();
    sim.send_message(ANN, PHONE, &vote, "poll").await.unwrap();
    let votes = wait_events(&receiver, "poll.vote", 2).await;
    assert_eq!(votes[1]["selectedOptions"], json!(["Sushi"]));
    assert_eq!(votes.len(), 2, "the forged vote made no event: {votes:?}");
    let (_, message) = session.get(&format!("/messages/{poll_id}")).await;
    assert_eq!(
        tally(&message),
        picks(&[("Pizza", &[]), ("Sushi", &[ANN]), ("Salad", &[])])
    );

    // Ann's own single-choice poll reaches the webhook, and her vote on it is tallied on
    // the message as the session received it.
    let her_secret = [42u8; 32];
    let her_poll = wa::Message {
        poll_creation_message_v3: MessageField::some(wa::message::PollCreationMessage {
            name: Some("Class at 6 or 7?".into()),
            options: ["6 pm", "7 pm"]
                .iter()
                .map(|o| wa::message::poll_creation_message::Option {
                    option_name: Some(o.to_string()),
                    option_hash: None,
                })
                .collect(),
            selectable_options_count: Some(1),
            ..Default::default()
        }),
        message_context_info: MessageField::some(wa::MessageContextInfo {
            message_secret: Some(her_secret.to_vec()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let her_poll_id = sim
        .send_message(ANN, PHONE, &her_poll, "poll")
        .await
        .unwrap();
    let arrived = wagate_e2e::wait_until(WAIT, || async {
        events(&receiver, "message.received")
            .iter()
            .any(|d| d["messageId"] == her_poll_id)
    })
    .await;
    assert!(arrived, "Ann's poll did not reach the webhook");
    let received = events(&receiver, "message.received")
        .into_iter()
        .find(|d| d["messageId"] == her_poll_id)
        .unwrap();
    assert_eq!(received["type"], "poll", "{received}");
    assert_eq!(
        received["poll"],
        json!({ "question": "Class at 6 or 7?", "options": ["6 pm", "7 pm"],
                "selectableCount": 1 })
    );
    let hers = PollRef {
        id: &her_poll_id,
        chat: &jid(PHONE),
        creator: &jid(ANN),
        from_me: true,
        secret: &her_secret,
    };
    let vote = poll_vote(&hers, &jid(ANN), &["7 pm"]).unwrap();
    sim.send_message(ANN, PHONE, &vote, "poll").await.unwrap();
    let votes = wait_events(&receiver, "poll.vote", 3).await;
    assert_eq!(votes[2]["pollId"], her_poll_id);
    assert_eq!(votes[2]["selectedOptions"], json!(["7 pm"]));
    let (status, message) = session.get(&format!("/messages/{her_poll_id}")).await;
    assert_eq!(status, StatusCode::OK, "{message}");
    assert_eq!(message["fromMe"], false, "{message}");
    assert_eq!(message["from"], ANN, "{message}");
    assert_eq!(message["type"], "poll", "{message}");
    assert_eq!(message["status"], "delivered", "{message}");
    assert_eq!(tally(&message), picks(&[("6 pm", &[]), ("7 pm", &[ANN])]));

    // A single-choice poll from the API goes out as WhatsApp's v3 poll.
    let decrypted = whatsapp::send_and_decrypt(
        session,
        &sim,
        ANN,
        json!({ "poll": {
            "question": "Bring a towel?", "options": ["Yes", "No"], "selectableCount": 1 } }),
    )
    .await;
    let poll = decrypted
        .message
        .poll_creation_message_v3
        .as_option()
        .expect("a pollCreationMessageV3");
    assert_eq!(poll.selectable_options_count, Some(1));
}

#[tokio::test]
async fn a_contacts_typing_reaches_the_webhook_as_chat_presence() {
    let (sim, receiver, _linked) = linked_with_webhook("typing").await;
    assert_eq!(sim.chat_state(ANN, PHONE, Typing::Composing).await, 1);
    wait_events(&receiver, "chat.presence", 1).await;
    sim.chat_state(ANN, PHONE, Typing::Recording).await;
    wait_events(&receiver, "chat.presence", 2).await;
    sim.chat_state(ANN, PHONE, Typing::Paused).await;
    let presences = wait_events(&receiver, "chat.presence", 3).await;
    let states: Vec<_> = presences.iter().map(|p| p["state"].clone()).collect();
    assert_eq!(
        states,
        [json!("composing"), json!("recording"), json!("paused")]
    );
    assert_eq!(
        presences[0],
        json!({ "chat": jid(ANN), "from": ANN, "state": "composing" })
    );
}
