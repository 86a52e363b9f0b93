//! `wagate-router`: the one REST API apps call, over every session. The HTTP layer talks
//! to a [`SessionBackend`]; `local` runs the sessions in-process (the embedded default).

pub mod app;
pub mod backend;
pub mod cli;
pub mod keys;
pub mod local;
pub mod routes;
pub mod tenancy;

pub use backend::SessionBackend;
