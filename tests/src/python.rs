//! Python tools from PyPI (schemathesis, Helm's Go library, Kubernetes schemas) in a
//! virtualenv under `target/`, made once, so a fresh clone needs nothing but `python3`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A virtualenv at `dir` holding `packages` (pin them); returns its `bin` folder. Rebuilt
/// only when the package list changes.
pub fn python_venv(dir: &Path, packages: &[&str]) -> PathBuf {
    let bin = dir.join("bin");
    let marker = dir.join(".wagate-packages");
    let wanted = packages.join("\n");
    if std::fs::read_to_string(&marker).is_ok_and(|have| have == wanted) {
        return bin;
    }
    let run = |program: &Path, args: &[&str]| {
        let status = Command::new(program)
            .args(args)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        assert!(status.success(), "{} {args:?} failed", program.display());
    };
    run(
        Path::new("python3"),
        &["-m", "venv", &dir.to_string_lossy()],
    );
    let mut args = vec!["install", "--quiet"];
    args.extend_from_slice(packages);
    run(&bin.join("pip"), &args);
    std::fs::write(&marker, wanted).expect("venv marker");
    bin
}
