//! Flags of the `wagate-router` binary; each has a `WAGATE_*` environment equivalent.

use std::path::PathBuf;

use clap::Parser;
use wagate_session::cli::{RuntimeArgs, ServeArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// Sessions run in this process, one folder each under --data-dir.
    Local,
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "wagate-router",
    version,
    about = "wagate: one REST API over all WhatsApp sessions"
)]
pub struct RouterArgs {
    /// Where sessions live (one folder each) and where generated keys are kept.
    #[arg(long, env = "WAGATE_DATA_DIR", default_value = "wagate-data")]
    pub data_dir: PathBuf,
    #[arg(long, env = "WAGATE_BACKEND", value_enum, default_value = "local")]
    pub backend: BackendKind,
    /// YAML file of API keys with their session patterns, read-only flag and rate limit.
    /// `--api-key` adds an admin key (all sessions).
    #[arg(long, env = "WAGATE_API_KEYS_FILE")]
    pub api_keys_file: Option<PathBuf>,
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}
