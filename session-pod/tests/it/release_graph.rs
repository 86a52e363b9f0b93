//! The shipped binaries never carry the simulator's test-only feature: with it, the client
//! accepts any server certificate chain and any media host's TLS certificate. Only this
//! package's dev-dependencies enable it.

use std::process::Command;

fn features_reaching(package: &str, krate: &str) -> String {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            package,
            "-e",
            "normal,build,features",
        ])
        .args(["-i", krate])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn release_dependency_graphs_verify_the_server_certificate() {
    for package in ["wagate-session", "wagate-router"] {
        for (krate, test_only) in [
            ("wacore-noise", "danger-skip-cert-chain-verify"),
            ("wacore-noise", "test-util"),
            ("whatsapp-rust-ureq-http-client", "danger-skip-tls-verify"),
        ] {
            let tree = features_reaching(package, krate);
            assert!(tree.contains(krate), "{package}: {tree}");
            assert!(
                !tree.contains(test_only),
                "{package} builds {krate} with {test_only}:\n{tree}"
            );
        }
    }
}
