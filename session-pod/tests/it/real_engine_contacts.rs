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
