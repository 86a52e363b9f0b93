//! `crds/` is generated from the Rust types; this fails when the checked-in YAML drifts.

#[test]
fn checked_in_crd_matches_the_types() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../crds/whatsappsession.yaml");
    let checked_in = std::fs::read_to_string(path).expect("crds/whatsappsession.yaml");
    let generated = wagate_operator::crd_yaml().unwrap();
    assert!(
        checked_in == generated,
        "crds/whatsappsession.yaml is stale: run `cargo run -p wagate-operator --bin crdgen > crds/whatsappsession.yaml`"
    );
}
