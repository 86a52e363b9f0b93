//! `wagate-router`: the one REST API apps call, over every session. The HTTP layer talks
//! to a [`SessionBackend`]; `local` runs the sessions in-process (the embedded default), `cluster` proxies to session pods
//! that the operator runs from `WhatsAppSession` resources.

pub mod app;
pub mod backend;
pub mod cli;
pub mod cluster;
pub mod local;
pub mod routes;
pub mod ui;

pub use backend::SessionBackend;
