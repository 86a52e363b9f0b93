//! Test support shared by the suites: runs a wagate binary on a loopback port and talks to
//! it over HTTP, plus a webhook receiver whose failures the test controls.

pub mod browser;
pub mod fake_kube;
mod process;
mod python;
mod receiver;

pub use process::{Api, Process, SessionProcess, decode, wait_until};
pub use python::python_venv;
pub use receiver::{Delivery, WebhookReceiver};

/// The key every spawned gateway accepts.
pub const KEY: &str = "test-key-0123456789";
