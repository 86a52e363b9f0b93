//! Flags of the `wagate-router` binary; each has a `WAGATE_*` environment equivalent.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use wagate_session::cli::RuntimeArgs;

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
    #[arg(long, env = "WAGATE_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Separate address for /metrics; without it /metrics is served on --listen.
    #[arg(long, env = "WAGATE_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// YAML file of API keys with their session patterns, read-only flag and rate limit.
    #[arg(long, env = "WAGATE_API_KEYS_FILE")]
    pub api_keys_file: Option<PathBuf>,
    /// An admin key (all sessions) given directly, for env-only platforms.
    #[arg(long = "api-key", env = "WAGATE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Key that signs QR links; generated into <data-dir>/link-secret when absent.
    #[arg(long, env = "WAGATE_LINK_SECRET_FILE")]
    pub link_secret_file: Option<PathBuf>,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}
