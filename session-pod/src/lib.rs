//! `wagate-session`: one WhatsApp account as a durable service. The runtime ([`Session`])
//! is a library so the router can run many sessions in-process; the `wagate-session`
//! binary serves one over HTTP.

pub mod cli;
pub mod config;
pub mod egress;
pub mod engine;
pub mod http;
pub mod inbound_media;
pub mod link;
pub mod media;
pub mod metrics;
mod outbox;
pub mod private_files;
pub mod qr;
pub mod secrets;
pub mod session;
pub mod store;
pub mod telemetry;
pub mod webhook;

pub use config::SessionConfig;
pub use session::Session;
