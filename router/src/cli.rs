//! Flags of the `wagate-router` binary; each has a `WAGATE_*` environment equivalent.
//!
//! `wagate-router [local] [FLAGS]` runs the sessions in this process (the default: no
//! subcommand means `local`); `wagate-router cluster [FLAGS]` serves the sessions that run
//! as pods. Each takes only the flags that act there: `cluster --engine simulator` is an
//! error naming `--engine`, not a flag silently ignored. (The environment twin of a flag the
//! backend does not take is not read: clap reads only the flags it knows.)

use std::path::PathBuf;

use clap::Parser;
use wagate_http::ServeArgs;
use wagate_session::cli::{EdgeArgs, RuntimeArgs};

#[derive(Debug, Clone, Parser)]
#[command(
    name = "wagate-router",
    version,
    about = "wagate: one REST API over all WhatsApp sessions",
    args_conflicts_with_subcommands = true,
    subcommand_value_name = "BACKEND",
    subcommand_help_heading = "Backends"
)]
pub struct RouterCli {
    #[command(subcommand)]
    backend: Option<Backend>,
    /// Without a subcommand: the `local` backend with these flags.
    #[command(flatten)]
    local: LocalArgs,
}

impl RouterCli {
    /// The backend asked for; `local` when no subcommand was given. `legacy_env` is
    /// `WAGATE_BACKEND`: like the old `--backend` flag it is refused when it names another
    /// backend, so an old deployment is told what to run instead of silently starting
    /// `local`.
    pub fn backend(self, legacy_env: Option<&str>) -> Result<Backend, String> {
        let backend = self.backend.unwrap_or(Backend::Local(self.local));
        let chosen = backend.name();
        let flag = backend.common().legacy_backend.as_deref();
        for (source, value) in [("--backend", flag), ("WAGATE_BACKEND", legacy_env)] {
            if let Some(value) = value.map(str::trim).filter(|v| !v.is_empty())
                && value != chosen
            {
                return Err(format!(
                    "{source}={value} is no longer read: the backend is the subcommand, run \
                     `wagate-router {value} [FLAGS]` (this command runs `{chosen}`)"
                ));
            }
        }
        Ok(backend)
    }
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Backend {
    /// Sessions run in this process, one folder each under --data-dir (the default).
    Local(LocalArgs),
    /// Sessions are WhatsAppSession resources on Kubernetes, run as pods by the operator.
    Cluster(ClusterArgs),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Local(_) => "local",
            Self::Cluster(_) => "cluster",
        }
    }

    pub fn common(&self) -> &CommonArgs {
        match self {
            Self::Local(local) => &local.common,
            Self::Cluster(cluster) => &cluster.common,
        }
    }
}

/// What both backends take: where keys live, how the API is served and what it checks.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Where generated keys are kept (and, locally, the sessions: one folder each).
    #[arg(long, env = "WAGATE_DATA_DIR", default_value = "wagate-data")]
    pub data_dir: PathBuf,
    /// YAML file of API keys with their session patterns, read-only flag and rate limit.
    /// `--api-key` adds an admin key (all sessions).
    #[arg(long, env = "WAGATE_API_KEYS_FILE")]
    pub api_keys_file: Option<PathBuf>,
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(flatten)]
    pub edge: EdgeArgs,
    /// The backend used to be this flag; it is still read so that a command line that
    /// asks for another backend than the subcommand's fails with a clear message.
    #[arg(long = "backend", hide = true)]
    pub legacy_backend: Option<String>,
}

/// Flags of the `local` backend: the sessions' own behaviour, as for `wagate-session`.
#[derive(Debug, Clone, clap::Args)]
pub struct LocalArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// Flags of the `cluster` backend. The sessions' behaviour is each resource's spec and the
/// operator's flags, not the router's.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Namespace of the sessions. Default: the pod's own (POD_NAMESPACE), else the
    /// kubeconfig's.
    #[arg(long, env = "WAGATE_NAMESPACE")]
    pub namespace: Option<String>,
    /// File with the internal token that session pods accept (the operator's Secret).
    #[arg(long, env = "WAGATE_INTERNAL_TOKEN_FILE")]
    pub internal_token_file: PathBuf,
    /// How long `POST /v1/sessions` waits for the new session's pod before answering 202.
    #[arg(long, env = "WAGATE_CREATE_WAIT_SECS", default_value_t = 10)]
    pub create_wait_secs: u64,
    /// How often the session pods' metrics are gathered into the router's /metrics.
    #[arg(long, env = "WAGATE_POD_METRICS_INTERVAL_SECS", default_value_t = 15)]
    pub pod_metrics_interval_secs: u64,
    /// Shown as the webhook of sessions whose resource names none; give the operator the
    /// same (the chart's `defaultWebhook` does).
    #[command(flatten)]
    pub default_webhook: wagate_http::serve::DefaultWebhookArgs,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Backend, RouterCli};

    fn parse(args: &[&str]) -> Result<Backend, clap::Error> {
        RouterCli::try_parse_from(["wagate-router"].iter().chain(args))
            .map(|cli| cli.backend(None).unwrap())
    }

    #[test]
    fn no_subcommand_is_local_and_each_backend_takes_only_its_flags() {
        let local = parse(&["--data-dir", "d", "--engine", "simulator"]).unwrap();
        assert!(matches!(&local, Backend::Local(l) if l.common.data_dir.ends_with("d")));
        assert!(matches!(
            parse(&["local", "--send-interval-ms", "0"]).unwrap(),
            Backend::Local(_)
        ));
        let cluster = parse(&["cluster", "--internal-token-file", "t"]).unwrap();
        assert!(matches!(cluster, Backend::Cluster(_)));
        for (args, flag) in [
            (
                &[
                    "cluster",
                    "--internal-token-file",
                    "t",
                    "--engine",
                    "simulator",
                ][..],
                "--engine",
            ),
            (
                &[
                    "cluster",
                    "--internal-token-file",
                    "t",
                    "--webhook-url",
                    "http://x",
                ][..],
                "--webhook-url",
            ),
            (&["local", "--namespace", "x"][..], "--namespace"),
            (&["cluster"][..], "--internal-token-file"),
        ] {
            let error = parse(args).unwrap_err().to_string();
            assert!(error.contains(flag), "{args:?}: {error}");
        }
    }

    #[test]
    fn the_old_backend_flag_and_env_are_refused_when_they_disagree() {
        let cli = |args: &[&str]| {
            RouterCli::try_parse_from(["wagate-router"].iter().chain(args)).unwrap()
        };
        let error = cli(&["--backend", "cluster"]).backend(None).unwrap_err();
        assert!(error.contains("wagate-router cluster"), "{error}");
        let error = cli(&[]).backend(Some("cluster")).unwrap_err();
        assert!(error.contains("WAGATE_BACKEND=cluster"), "{error}");
        let agreeing = cli(&["cluster", "--internal-token-file", "t"]).backend(Some("cluster"));
        assert!(matches!(agreeing, Ok(Backend::Cluster(_))));
        assert!(cli(&["--backend", "local"]).backend(None).is_ok());
    }
}
