//! The shared harness, bound to this package's binary.
#![allow(dead_code)]

use std::path::Path;

pub mod whatsapp;

pub use wagate_e2e::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_wagate-session");

pub fn simulator(id: &str, extra: &[&str]) -> SessionProcess {
    SessionProcess::simulator(BIN, id, extra)
}

pub fn spawn(id: &str, home: &Path, extra: &[&str]) -> SessionProcess {
    SessionProcess::spawn(BIN, id, home, extra)
}
