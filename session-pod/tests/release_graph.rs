//! The shipped binaries never carry the simulator's test-only feature: with it, the client
//! accepts any server certificate chain. Only this package's dev-dependencies enable it.

use std::process::Command;

fn features_reaching_noise(package: &str) -> String {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            package,
            "-e",
            "normal,build,features",
        ])
        .args(["-i", "wacore-noise"])
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
        let tree = features_reaching_noise(package);
        assert!(tree.contains("wacore-noise"), "{package}: {tree}");
        for test_only in ["danger-skip-cert-chain-verify", "test-util"] {
            assert!(
                !tree.contains(test_only),
                "{package} builds wacore-noise with {test_only}:\n{tree}"
            );
        }
    }
}
