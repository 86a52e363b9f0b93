//! `wagate-session`: one WhatsApp account as a durable service. The runtime ([`Session`])
//! is a library so the router can run many sessions in-process; the `wagate-session`
//! binary serves one over HTTP.

pub mod cli;
pub mod config;
pub mod egress;
pub mod engine;
mod events;
pub mod http;
pub mod inbound_media;
pub mod media;
pub mod metrics;
mod outbox;
pub mod private_files;
pub mod profile_picture;
pub mod qr;
pub mod session;
mod state;
pub mod store;
pub mod webhook;

pub use config::SessionConfig;
pub use session::Session;

/// The log filter when `RUST_LOG` is unset: the WhatsApp client logs protocol chatter at
/// info, which drowns what an operator needs.
pub const DEFAULT_LOG_FILTER: &str = "info,whatsapp_rust=warn,wacore=warn,tower_http=warn";
