//! Group administration through the real engine against the protocol simulator's `w:g2`
//! server: create, read, change, members (with WhatsApp's per-number answers), invite
//! links, join and leave, and the admin rules, each checked on what the server then holds.
//! A member's changes from their phone reach the webhook as `group.participants` and
//! `group.updated`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use wagate_wa_sim::{Admin, GroupChange, Simulator};

use crate::support::whatsapp;

const PHONE: &str = "15550006666";
const ANN: &str = "971501230001";
const BOB: &str = "971501230002";
/// Her privacy settings refuse adds by strangers.
const CAT: &str = "971501230003";
const NOBODY: &str = "971509990000";
const WAIT: Duration = Duration::from_secs(30);

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn role_of(group: &wagate_wa_sim::Group, phone: &str) -> Option<Admin> {
    group
        .members
        .iter()
        .find(|(m, _)| m == phone)
        .map(|(_, a)| *a)
}

#[tokio::test]
async fn groups_are_created_changed_and_left_on_the_real_engine() {
    let sim = Simulator::start().await.expect("simulator");
    sim.add_account(PHONE, "Coach Ann").await;
    for (phone, name) in [(ANN, "Ann"), (BOB, "Bob"), (CAT, "Cat")] {
        sim.add_contact(phone, name, None).await;
    }
    sim.refuse_group_adds(CAT).await;
    let book_club = sim
        .add_group("Book club", &[(BOB, Admin::Superadmin), (PHONE, Admin::No)])
        .await;
    let runners = sim.add_group("Runners", &[(BOB, Admin::Superadmin)]).await;
    let receiver = wagate_e2e::WebhookReceiver::start().await;
    let linked = whatsapp::linked(
        &sim,
        "groupadmin",
        PHONE,
        &["--webhook-url", receiver.url.as_str()],
    )
    .await;
    let session = &linked.session;

    // Create: who can be added is in; who cannot is not.
    let (status, team) = session
        .post(
            "/groups",
            json!({ "subject": "Team", "participants": [ANN, CAT, NOBODY] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    let jid = team["jid"].as_str().unwrap().to_string();
    assert!(jid.ends_with("@g.us"), "{team}");
    assert_eq!(team["subject"], "Team");
    assert_eq!(team["isSuperAdmin"], true, "{team}");
    assert_eq!(team["participantCount"], 2, "{team}");
    let held = sim.group(&jid).await.expect("the server has the group");
    assert_eq!(role_of(&held, PHONE), Some(Admin::Superadmin));
    assert_eq!(role_of(&held, ANN), Some(Admin::No));
    assert_eq!(role_of(&held, CAT), None);

    // Change everything at once; the answer is the group as the server now has it.
    let (status, changed) = session
        .patch(
            &format!("/groups/{jid}"),
            json!({ "subject": "Team 2", "description": "Weekly plans", "announce": true,
                    "locked": true, "ephemeralSeconds": 86400 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["subject"], "Team 2", "{changed}");
    assert_eq!(changed["description"], "Weekly plans", "{changed}");
    assert_eq!(
        changed["settings"],
        json!({ "announce": true, "locked": true, "ephemeralSeconds": 86400 })
    );
    let held = sim.group(&jid).await.unwrap();
    assert_eq!(
        (held.subject.as_str(), held.description.as_deref()),
        ("Team 2", Some("Weekly plans"))
    );
    assert!(held.announce && held.locked && held.ephemeral == 86400);

    // Members: one answer per number, in the order asked.
    let (status, added) = session
        .post(
            &format!("/groups/{jid}/participants"),
            json!({ "action": "add", "participants": [BOB, ANN, CAT] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    let statuses: Vec<u64> = added["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 409, 403], "{added}");
    assert_eq!(added["results"][0]["ok"], true);
    for (action, expected) in [
        ("promote", Some(Admin::Admin)),
        ("demote", Some(Admin::No)),
        ("remove", None),
    ] {
        let (status, body) = session
            .post(
                &format!("/groups/{jid}/participants"),
                json!({ "action": action, "participants": [BOB] }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["results"][0]["status"], 200, "{action}: {body}");
        assert_eq!(
            role_of(&sim.group(&jid).await.unwrap(), BOB),
            expected,
            "{action}"
        );
    }

    // Invite link: the server's code; a delete resets it and answers the new one.
    let (status, link) = session.get(&format!("/groups/{jid}/invite-link")).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    let old = sim.group(&jid).await.unwrap().invite;
    assert_eq!(link["code"], old);
    assert_eq!(link["link"], format!("https://chat.whatsapp.com/{old}"));
    let (status, reset) = session.delete(&format!("/groups/{jid}/invite-link")).await;
    assert_eq!(status, StatusCode::OK, "{reset}");
    let new = sim.group(&jid).await.unwrap().invite;
    assert_ne!(new, old);
    assert_eq!(reset["code"], new);

    // Join by link, not twice; a reset or unknown code is no group.
    let invite = sim.group(&runners).await.unwrap().invite;
    let (status, joined) = session
        .post(
            "/groups/join",
            json!({ "link": format!("https://chat.whatsapp.com/{invite}") }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(joined, json!({ "jid": runners, "pendingApproval": false }));
    assert_eq!(
        role_of(&sim.group(&runners).await.unwrap(), PHONE),
        Some(Admin::No)
    );
    let (status, again) = session
        .post("/groups/join", json!({ "code": invite }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    let (status, gone) = session.post("/groups/join", json!({ "code": old })).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{gone}");
    assert_eq!(code(&gone), "group_not_found");

    // Leave: the server lets go, and the group is no longer this account's.
    let (status, left) = session
        .post(&format!("/groups/{runners}/leave"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{left}");
    assert_eq!(role_of(&sim.group(&runners).await.unwrap(), PHONE), None);
    let (status, body) = session.get(&format!("/groups/{runners}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(code(&body), "group_not_found");

    // A plain member may not change a group's settings or members.
    let (status, body) = session
        .patch(&format!("/groups/{book_club}"), json!({ "announce": true }))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "not_group_admin");
    let (status, body) = session
        .post(
            &format!("/groups/{book_club}/participants"),
            json!({ "action": "add", "participants": [ANN] }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "not_group_admin");
    assert!(!sim.group(&book_club).await.unwrap().announce);
    let (status, body) = session.get("/groups/120363999999999999@g.us").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "group_not_found")
    );

    // Bob, the book club's admin, changes it from his phone: the webhook hears of both.
    sim.change_group(BOB, &book_club, GroupChange::Add(vec![ANN.into()]))
        .await
        .expect("Bob adds Ann");
    sim.change_group(BOB, &book_club, GroupChange::Subject("Books!".into()))
        .await
        .expect("Bob renames it");
    let heard = wagate_e2e::wait_until(WAIT, || async {
        !receiver.accepted("group.participants").is_empty()
            && !receiver.accepted("group.updated").is_empty()
    })
    .await;
    assert!(heard, "the group's changes did not reach the webhook");
    let added = receiver.accepted("group.participants")[0].json()["data"].clone();
    assert_eq!(
        added,
        json!({ "group": book_club, "action": "add", "participants": [ANN], "by": BOB })
    );
    let renamed = receiver.accepted("group.updated")[0].json()["data"].clone();
    assert_eq!(
        renamed,
        json!({ "group": book_club, "by": BOB, "changes": { "subject": "Books!" } })
    );
}
