//! Looking people up through the real engine against the protocol simulator's usync and
//! profile-picture IQs: about text, picture, business, LID both ways, the push name the
//! session saw, and the parts a contact's privacy settings hide coming back as `null`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use wagate_wa_sim::Simulator;

use crate::support::whatsapp;

const PHONE: &str = "15550007777";
const ANN: &str = "971501240001";
const SHOP: &str = "491511240002";
const HIDDEN: &str = "971501240003";
const NOBODY: &str = "971509990000";

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn contacts_are_looked_up_and_lids_resolved_on_the_real_engine() {
    let sim = Simulator::start().await.expect("simulator");
    sim.add_account(PHONE, "Coach Ann").await;
    sim.add_contact(ANN, "Ann", None).await;
    sim.add_contact(SHOP, "Shop", Some("Shop GmbH")).await;
    sim.add_contact(HIDDEN, "Hidden", None).await;
    sim.set_about(ANN, Some("Coach for 10 years")).await;
    sim.hide_profile(HIDDEN).await;
    let linked = whatsapp::linked(&sim, "contacts", PHONE, &[]).await;
    let session = &linked.session;

    let (status, ann) = session.get(&format!("/contacts/+{ANN}")).await;
    assert_eq!(status, StatusCode::OK, "{ann}");
    let ann_lid = sim.lid_of(ANN).await.expect("Ann has a LID");
    assert_eq!(ann["jid"], format!("{ANN}@s.whatsapp.net"), "{ann}");
    assert_eq!(ann["phone"], ANN, "{ann}");
    assert_eq!(ann["lid"], ann_lid, "{ann}");
    assert_eq!(ann["onWhatsApp"], true, "{ann}");
    assert_eq!(ann["about"], "Coach for 10 years", "{ann}");
    assert_eq!(ann["isBusiness"], false, "{ann}");
    assert!(
        ann["profilePictureUrl"]
            .as_str()
            .is_some_and(|u| u.contains(&format!("/sim/{ANN}.jpg"))),
        "{ann}"
    );
    assert_eq!(ann["pushName"], Value::Null, "not written yet: {ann}");

    // Once Ann writes, her push name is known.
    sim.send_text(ANN, PHONE, "hello coach")
        .await
        .expect("Ann writes");
    let named = wagate_e2e::wait_until(Duration::from_secs(30), || async {
        session.get(&format!("/contacts/{ANN}")).await.1["pushName"] == "Ann"
    })
    .await;
    assert!(named, "Ann's push name was not kept");

    let (_, shop) = session.get(&format!("/contacts/{SHOP}")).await;
    assert_eq!(
        (&shop["isBusiness"], &shop["verifiedName"]),
        (&Value::Bool(true), &Value::from("Shop GmbH")),
        "{shop}"
    );
    // Privacy: on WhatsApp, but what she hides is null, not an error.
    let (status, hidden) = session.get(&format!("/contacts/{HIDDEN}")).await;
    assert_eq!(status, StatusCode::OK, "{hidden}");
    assert_eq!(hidden["onWhatsApp"], true, "{hidden}");
    assert_eq!(hidden["about"], Value::Null, "{hidden}");
    assert_eq!(hidden["profilePictureUrl"], Value::Null, "{hidden}");
    let (_, nobody) = session.get(&format!("/contacts/{NOBODY}")).await;
    assert_eq!(nobody["onWhatsApp"], false, "{nobody}");

    // LIDs: resolved to the phone, and usable to look someone up.
    let (status, resolved) = session.get(&format!("/lids/{ann_lid}")).await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(resolved["phone"], ANN, "{resolved}");
    assert_eq!(resolved["lid"], ann_lid, "{resolved}");
    let (_, by_lid) = session.get(&format!("/contacts/{ann_lid}")).await;
    assert_eq!(by_lid["phone"], ANN, "{by_lid}");
    let (status, unknown) = session.get("/lids/99999999999999@lid").await;
    assert_eq!(
        (status, code(&unknown)),
        (StatusCode::NOT_FOUND, "not_found"),
        "{unknown}"
    );
    for bad in [
        "/contacts/120363000000000001@g.us",
        "/lids/971501240001@s.whatsapp.net",
    ] {
        let (status, error) = session.get(bad).await;
        assert_eq!(
            (status, code(&error)),
            (StatusCode::BAD_REQUEST, "validation_error"),
            "{bad}: {error}"
        );
    }
}

/// WhatsApp names more and more senders by LID, sometimes with the phone beside it. An app
/// sees `from` (and a direct chat) as the phone whenever the session can tell it, and
/// `fromLid` whenever WhatsApp used one; a LID nobody has resolved stays a LID.
#[tokio::test]
async fn lid_addressed_senders_reach_the_webhook_by_phone() {
    use wagate_wa_sim::Addressing;
    use wagate_wa_sim::waproto::buffa::MessageField;
    use wagate_wa_sim::waproto::whatsapp as wa;

    const BEA: &str = "971501240011";
    const CAL: &str = "971501240012";
    const DAN: &str = "971501240013";
    let sim = Simulator::start().await.expect("simulator");
    sim.add_account(PHONE, "Coach Ann").await;
    for (phone, name) in [(BEA, "Bea"), (CAL, "Cal"), (DAN, "Dan")] {
        sim.add_contact(phone, name, None).await;
    }
    let receiver = wagate_e2e::WebhookReceiver::start().await;
    let linked = whatsapp::linked(
        &sim,
        "lid-senders",
        PHONE,
        &["--webhook-url", receiver.url.as_str()],
    )
    .await;
    let session = &linked.session;
    let [bea_lid, cal_lid, dan_lid] = [
        sim.lid_of(BEA).await.unwrap(),
        sim.lid_of(CAL).await.unwrap(),
        sim.lid_of(DAN).await.unwrap(),
    ];
    let text = |t: &str| wa::Message {
        conversation: Some(t.to_string()),
        ..Default::default()
    };
    let received = |id: String| {
        let receiver = &receiver;
        async move {
            let found = || {
                receiver
                    .data("message.received")
                    .into_iter()
                    .find(|d| d["messageId"] == id.as_str())
            };
            assert!(
                wagate_e2e::wait_until(Duration::from_secs(30), || async { found().is_some() })
                    .await,
                "message {id} did not reach the webhook"
            );
            found().unwrap()
        }
    };
    let who = |d: &Value| (d["from"].clone(), d["fromLid"].clone(), d["chat"].clone());

    // By phone with the LID beside it.
    let id = sim
        .send_message_addressed(DAN, PHONE, &text("by phone"), Addressing::PhoneWithLid)
        .await
        .unwrap();
    let data = received(id).await;
    assert_eq!(
        who(&data),
        (
            DAN.into(),
            dan_lid.clone().into(),
            format!("{DAN}@s.whatsapp.net").into()
        ),
        "{data}"
    );
    // By LID with the phone beside it, then by LID alone: the session remembers.
    let id = sim
        .send_message_addressed(BEA, PHONE, &text("by lid"), Addressing::LidWithPhone)
        .await
        .unwrap();
    let bea = (
        Value::from(BEA),
        Value::from(bea_lid.clone()),
        Value::from(format!("{BEA}@s.whatsapp.net")),
    );
    let data = received(id).await;
    assert_eq!(who(&data), bea, "{data}");
    let mentioning = wa::Message {
        extended_text_message: MessageField::some(wa::message::ExtendedTextMessage {
            text: Some("ask Dan".into()),
            context_info: MessageField::some(wa::ContextInfo {
                mentioned_jid: vec![dan_lid.clone()],
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let second = sim
        .send_message_addressed(BEA, PHONE, &mentioning, Addressing::Lid)
        .await
        .unwrap();
    let data = received(second.clone()).await;
    assert_eq!(who(&data), bea, "{data}");
    assert_eq!(data["mentions"], serde_json::json!([DAN]), "{data}");
    // A LID the session never saw with a phone stays a LID; the app can still ask.
    let id = sim
        .send_message_addressed(CAL, PHONE, &text("who am I"), Addressing::Lid)
        .await
        .unwrap();
    let data = received(id).await;
    assert_eq!(
        who(&data),
        (
            cal_lid.clone().into(),
            cal_lid.clone().into(),
            cal_lid.clone().into()
        ),
        "{data}"
    );
    let (status, resolved) = session.get(&format!("/lids/{cal_lid}")).await;
    assert_eq!(
        (status, &resolved["phone"]),
        (StatusCode::OK, &Value::from(CAL))
    );
    // WhatsApp's LID migration: the phone pushes its contacts' LIDs to its companions, and
    // a LID-only sender it names is a phone from then on.
    const EVE: &str = "971501240014";
    sim.add_contact(EVE, "Eve", None).await;
    let eve_lid = sim.lid_of(EVE).await.unwrap();
    assert_eq!(sim.migrate_lids(PHONE, &[EVE]).await, Ok(1));
    let eve = (
        Value::from(EVE),
        Value::from(eve_lid.clone()),
        Value::from(format!("{EVE}@s.whatsapp.net")),
    );
    let resolved_by_migration = wagate_e2e::wait_until(Duration::from_secs(30), || async {
        let id = sim
            .send_message_addressed(EVE, PHONE, &text("after migration"), Addressing::Lid)
            .await
            .unwrap();
        who(&received(id).await) == eve
    })
    .await;
    assert!(resolved_by_migration, "the migration mapping was not used");

    // The conversation keeps one name: a reply to Bea's phone quotes her LID-addressed
    // message, and reaches her.
    let reply = whatsapp::send_and_decrypt(
        session,
        &sim,
        BEA,
        serde_json::json!({ "text": "sure", "replyTo": second }),
    )
    .await;
    let context = reply
        .message
        .extended_text_message
        .as_option()
        .and_then(|m| m.context_info.as_option())
        .expect("the reply quotes");
    assert_eq!(context.stanza_id.as_deref(), Some(second.as_str()));
}

/// Brazilian mobiles gained a ninth digit after many were registered without it: WhatsApp
/// answers such a number with the JID it registered with. The check matches that answer
/// back to the number asked (once reported "not on WhatsApp"), and a message to the
/// dialled form goes to the registered JID, where the phone decrypts it.
#[tokio::test]
async fn numbers_match_whatsapps_canonical_answer() {
    const OLD_BR: &str = "551187654321"; // registered before the ninth digit
    const DIALLED_BR: &str = "5511987654321";
    const NEW_BR: &str = "5521998765432"; // registered with it
    let sim = Simulator::start().await.expect("simulator");
    sim.add_account(PHONE, "Coach Ann").await;
    sim.add_contact(OLD_BR, "Bruna", None).await;
    sim.add_contact(NEW_BR, "Caio", None).await;
    let linked = whatsapp::linked(&sim, "canonical", PHONE, &[]).await;
    let session = &linked.session;

    let (status, checked) = session
        .post(
            "/check-numbers",
            serde_json::json!({ "numbers": [format!("+{DIALLED_BR}"), NEW_BR, NOBODY] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{checked}");
    let results: Vec<(Value, Value, Value)> = checked["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["number"].clone(),
                r["onWhatsApp"].clone(),
                r["jid"].clone(),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            (
                DIALLED_BR.into(),
                true.into(),
                format!("{OLD_BR}@s.whatsapp.net").into()
            ),
            (
                NEW_BR.into(),
                true.into(),
                format!("{NEW_BR}@s.whatsapp.net").into()
            ),
            (NOBODY.into(), false.into(), Value::Null),
        ],
        "{checked}"
    );

    let (status, sent) = session
        .post(
            "/messages",
            serde_json::json!({ "to": DIALLED_BR, "text": "olá" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let id = sent["id"].as_str().expect("an id").to_string();
    let decrypted = sim
        .wait_delivered(Duration::from_secs(30), |d| d.id == id && d.to == OLD_BR)
        .await
        .expect("Bruna's phone decrypts it");
    assert_eq!(decrypted.text.as_deref(), Some("olá"));

    // WhatsApp refusing the lookup (rate limit) is no "not on WhatsApp": check-numbers says
    // 429, and a message to a number not yet confirmed waits queued instead of failing.
    sim.throttle_lookups(true).await;
    let (status, error) = session
        .post("/check-numbers", serde_json::json!({ "numbers": [NEW_BR] }))
        .await;
    assert_eq!(
        (status, code(&error)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        "{error}"
    );
    let (status, queued) = session
        .post(
            "/messages?async=true",
            serde_json::json!({ "to": NEW_BR, "text": "oi" }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let id = queued["id"].as_str().expect("an id").to_string();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, state) = session.get(&format!("/messages/{id}")).await;
    assert_eq!(state["status"], "queued", "{state}");
    sim.throttle_lookups(false).await;
    let delivered = sim
        .wait_delivered(Duration::from_secs(60), |d| d.id == id && d.to == NEW_BR)
        .await;
    assert!(
        delivered.is_some(),
        "sent once WhatsApp answered the lookup"
    );
}
