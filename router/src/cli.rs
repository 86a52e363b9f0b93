//! Flags of the `wagate-router` binary; each has a `WAGATE_*` environment equivalent.

use std::path::PathBuf;

use clap::Parser;
use wagate_session::cli::{RuntimeArgs, ServeArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// Sessions run in this process, one folder each under --data-dir.
    Local,
    /// Sessions are WhatsAppSession resources on Kubernetes, run as pods by the operator.
    Cluster,
}

/// Flags of the `cluster` backend.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// Namespace of the sessions. Default: the pod's own (POD_NAMESPACE), else the
    /// kubeconfig's.
    #[arg(long, env = "WAGATE_NAMESPACE")]
    pub namespace: Option<String>,
    /// File with the internal token that session pods accept (the operator's Secret).
    #[arg(long, env = "WAGATE_INTERNAL_TOKEN_FILE")]
    pub internal_token_file: Option<PathBuf>,
    /// How long `POST /v1/sessions` waits for the new session's pod before answering 202.
    #[arg(long, env = "WAGATE_CREATE_WAIT_SECS", default_value_t = 10)]
    pub create_wait_secs: u64,
    /// How often the session pods' metrics are gathered into the router's /metrics.
    #[arg(long, env = "WAGATE_POD_METRICS_INTERVAL_SECS", default_value_t = 15)]
    pub pod_metrics_interval_secs: u64,
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
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}
