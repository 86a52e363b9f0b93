//! Per-session behaviour settings on the real engine against the protocol simulator: calls
//! rejected (the simulator sees the reject) with the reply sent once per caller, received
//! messages read only after their webhook was delivered, the number shown online, and
//! group chats left out.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use wagate_wa_sim::{Admin, Simulator};

use crate::support::whatsapp;

const PHONE: &str = "15550009999";
const ANN: &str = "971501260001";
const BEN: &str = "971501260002";
const WAIT: Duration = Duration::from_secs(30);
const REPLY: &str = "I can't take calls here: please write.";

fn text(t: &str) -> wagate_wa_sim::waproto::whatsapp::Message {
    wagate_wa_sim::waproto::whatsapp::Message {
        conversation: Some(t.to_string()),
        ..Default::default()
    }
}

#[tokio::test]
async fn settings_reject_calls_read_after_delivery_and_leave_groups_out() {
    let sim = Simulator::start().await.expect("simulator");
    sim.add_account(PHONE, "Front Desk").await;
    sim.add_contact(ANN, "Ann", None).await;
    sim.add_contact(BEN, "Ben", None).await;
    let group = sim
        .add_group(
            "Team",
            &[
                (PHONE, Admin::Superadmin),
                (ANN, Admin::No),
                (BEN, Admin::No),
            ],
        )
        .await;
    let receiver = wagate_e2e::WebhookReceiver::start().await;
    let linked = whatsapp::linked(
        &sim,
        "settings",
        PHONE,
        &[
            "--webhook-url",
            receiver.url.as_str(),
            "--webhook-retry-base-ms",
            "200",
        ],
    )
    .await;
    let session = &linked.session;
    let (_, info) = session.get("").await;
    assert_eq!(info["settings"]["rejectCalls"], false, "{info}");

    let settings = json!({
        "rejectCalls": true, "rejectCallsMessage": REPLY, "autoRead": true,
        "alwaysOnline": true, "ignoreGroups": true, "ignoreStatusBroadcast": false
    });
    let online_before = online_signals(&sim).await;
    let (status, info) = session.put("/settings", settings.clone()).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["settings"], settings, "{info}");
    let (_, info) = session.get("").await;
    assert_eq!(info["settings"], settings, "kept: {info}");
    let shown = wagate_e2e::wait_until(WAIT, || async {
        online_signals(&sim).await > online_before
    })
    .await;
    assert!(shown, "alwaysOnline did not show the number available");

    // A call is rejected, reported, and answered once; a second call gets no second reply.
    let (call_id, rang) = sim.call(ANN, PHONE, true).await.unwrap();
    assert_eq!(rang, 1);
    let answer = sim
        .wait_call_answer(WAIT, &call_id)
        .await
        .expect("the session answered the call");
    assert_eq!(answer.action, "reject");
    let calls = || receiver.data("call.received");
    assert!(wagate_e2e::wait_until(WAIT, || async { !calls().is_empty() }).await);
    assert_eq!(
        calls()[0],
        json!({ "callId": call_id, "from": ANN, "video": true, "group": null, "rejected": true })
    );
    let replies = || async {
        sim.delivered()
            .await
            .into_iter()
            .filter(|d| d.to == ANN && d.text.as_deref() == Some(REPLY))
            .count()
    };
    assert!(wagate_e2e::wait_until(WAIT, || async { replies().await == 1 }).await);
    let (second, _) = sim.call(ANN, PHONE, false).await.unwrap();
    sim.wait_call_answer(WAIT, &second)
        .await
        .expect("rejected again");
    assert!(wagate_e2e::wait_until(WAIT, || async { calls().len() == 2 }).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(replies().await, 1, "one reply per caller per day");

    // autoRead: no read receipt while the webhook is down; one once it took the message.
    receiver.set_down(true);
    let id = sim.send_text(BEN, PHONE, "are you open?").await.unwrap();
    let read = || async {
        sim.client_receipts()
            .await
            .iter()
            .any(|r| r.id == id && r.kind == "read")
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!read().await, "read before the app got it");
    receiver.set_down(false);
    assert!(
        wagate_e2e::wait_until(WAIT, || async { read().await }).await,
        "not read after the webhook took it"
    );

    // ignoreGroups: a group message is not reported; the direct one after it is.
    let in_group = sim
        .send_group_message(ANN, &group, &text("team news"))
        .await
        .unwrap();
    let direct = sim.send_text(ANN, PHONE, "just you").await.unwrap();
    let received = || receiver.data("message.received");
    assert!(
        wagate_e2e::wait_until(WAIT, || async {
            received().iter().any(|d| d["messageId"] == direct.as_str())
        })
        .await
    );
    assert!(
        !received()
            .iter()
            .any(|d| d["messageId"] == in_group.as_str()),
        "a group message was reported"
    );

    let (status, error) = session
        .put("/settings", json!({ "rejectCallsMessage": "" }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, error) = session
        .put("/settings", json!({ "rejectCall": true }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
}

async fn online_signals(sim: &Simulator) -> usize {
    sim.client_signals()
        .await
        .iter()
        .filter(|s| s.tag == "presence" && s.state == "available")
        .count()
}
