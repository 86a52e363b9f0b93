//! Flags of the `wagate-session` binary; each has a `WAGATE_*` environment equivalent.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use wagate_api::{EventKind, MediaLimits};
use wagate_http::ServeArgs;

use crate::config::{DefaultWebhook, RetryPolicy, SessionConfig};
use crate::egress::{Egress, EgressPolicy};
use crate::engine::pacer::ConnectPacer;
use crate::engine::{EngineKind, EngineOptions};

#[derive(Debug, Clone, Parser)]
#[command(
    name = "wagate-session",
    version,
    about = "One WhatsApp account as a durable HTTP service"
)]
pub struct SessionArgs {
    /// External id of the session (1-64 of A-Z a-z 0-9 _ -).
    #[arg(long, env = "WAGATE_SESSION_ID")]
    pub session_id: String,
    /// The session's folder (whatsapp.db, gateway.db, media/). Default: ./wagate-data/<session-id>.
    #[arg(long, env = "WAGATE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// File with the accepted API key(s), one per line. Without it and WAGATE_API_KEY,
    /// a key is generated into <data-dir>/api-key on first start.
    #[arg(long, env = "WAGATE_API_KEY_FILE")]
    pub api_key_file: Option<PathBuf>,
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(flatten)]
    pub edge: EdgeArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// The session's behaviour settings as JSON (`rejectCalls`, `autoRead`, ...), fixed from
    /// outside: the operator passes its resource's `spec.settings`, which win over stored ones.
    #[arg(long, env = "WAGATE_SESSION_SETTINGS", value_parser = parse_settings)]
    pub session_settings: Option<wagate_api::SessionSettings>,
}

fn parse_settings(raw: &str) -> Result<wagate_api::SessionSettings, String> {
    let settings: wagate_api::SessionSettings =
        serde_json::from_str(raw).map_err(|e| format!("not session settings: {e}"))?;
    settings
        .validate()
        .map_err(|e| e.to_string())
        .map(|()| settings)
}

/// What an API edge checks and hands out, in every binary that serves the contract: media
/// size limits, the egress policy for URLs a caller gives, the public base URL of links.
#[derive(Debug, Clone, clap::Args)]
pub struct EdgeArgs {
    /// Largest media a send may carry inline (base64 in the body).
    #[arg(long, env = "WAGATE_MAX_INLINE_MEDIA_MB", default_value_t = 16)]
    pub max_inline_media_mb: usize,
    /// Largest media a send may name by URL (fetched by the gateway).
    #[arg(long, env = "WAGATE_MAX_URL_MEDIA_MB", default_value_t = 64)]
    pub max_url_media_mb: usize,
    /// Public base URL for links the gateway hands out (media URLs, QR links).
    #[arg(long, env = "WAGATE_PUBLIC_URL", default_value = "")]
    pub public_url: String,
    /// Address ranges server-side fetches (media URLs, webhooks) may reach although they are
    /// internal (loopback, private, link-local, CGNAT...), comma-separated: how a
    /// cluster-internal webhook receiver is permitted. Single addresses are /32.
    #[arg(long, env = "WAGATE_EGRESS_ALLOW_CIDRS", value_delimiter = ',', value_parser = crate::egress::parse_cidr)]
    pub egress_allow_cidrs: Vec<ipnet::IpNet>,
    /// More ranges server-side fetches may not reach (beside the internal ones).
    #[arg(long, env = "WAGATE_EGRESS_DENY_CIDRS", value_delimiter = ',', value_parser = crate::egress::parse_cidr)]
    pub egress_deny_cidrs: Vec<ipnet::IpNet>,
}

impl EdgeArgs {
    pub fn media_limits(&self) -> MediaLimits {
        MediaLimits {
            inline_max_bytes: self.max_inline_media_mb * 1024 * 1024,
            url_max_bytes: self.max_url_media_mb * 1024 * 1024,
        }
    }

    pub fn egress_policy(&self) -> EgressPolicy {
        EgressPolicy::new(
            self.egress_allow_cidrs.clone(),
            self.egress_deny_cidrs.clone(),
        )
    }

    /// `--public-url` without a trailing slash.
    pub fn public_url(&self) -> String {
        self.public_url.trim_end_matches('/').to_string()
    }
}

/// How sessions behave: sending pace, webhooks, media, engine. Shared by the session
/// binary and the router's `local` backend (which runs sessions in-process).
#[derive(Debug, Clone, clap::Args)]
pub struct RuntimeArgs {
    /// `whatsapp` (real) or `simulator` (tests and sandboxes only).
    #[arg(long, env = "WAGATE_ENGINE", value_enum, default_value = "whatsapp")]
    pub engine: EngineKind,
    /// Default webhook URL for sessions without their own.
    #[arg(long, env = "WAGATE_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// File holding the default webhook's HMAC secret.
    #[arg(long, env = "WAGATE_WEBHOOK_SECRET_FILE")]
    pub webhook_secret_file: Option<PathBuf>,
    /// Events for the default webhook (comma-separated); all when omitted.
    #[arg(long, env = "WAGATE_WEBHOOK_EVENTS", value_delimiter = ',', value_parser = EventKind::parse_webhook)]
    pub webhook_events: Option<Vec<EventKind>>,
    /// How long a failing webhook delivery is retried before it becomes a dead letter.
    #[arg(long, env = "WAGATE_WEBHOOK_RETRY_FOR_SECS", default_value_t = 86_400)]
    pub webhook_retry_for_secs: u64,
    /// First retry delay of a failing webhook (doubles each time, with jitter).
    #[arg(long, env = "WAGATE_WEBHOOK_RETRY_BASE_MS", default_value_t = 1_000)]
    pub webhook_retry_base_ms: u64,
    #[arg(long, env = "WAGATE_WEBHOOK_RETRY_MAX_MS", default_value_t = 600_000)]
    pub webhook_retry_max_ms: u64,
    /// Minimum gap between two sends of the session.
    #[arg(long, env = "WAGATE_SEND_INTERVAL_MS", default_value_t = 1_000)]
    pub send_interval_ms: u64,
    /// New conversations the session may start per 24 h (0 = no cap).
    #[arg(long, env = "WAGATE_NEW_CHATS_PER_DAY", default_value_t = 250)]
    pub new_chats_per_day: u32,
    /// First retry delay of a transiently failing send.
    #[arg(long, env = "WAGATE_SEND_RETRY_BASE_MS", default_value_t = 1_000)]
    pub send_retry_base_ms: u64,
    /// How long a synchronous send waits before answering 202 queued.
    #[arg(long, env = "WAGATE_SEND_WAIT_SECS", default_value_t = 60)]
    pub send_wait_secs: u64,
    #[arg(long, env = "WAGATE_MEDIA_RETENTION_HOURS", default_value_t = 168)]
    pub media_retention_hours: u64,
    /// Days the message index remembers a message (reactions, edits and revokes by id).
    #[arg(long, env = "WAGATE_MESSAGE_INDEX_DAYS", default_value_t = 30)]
    pub message_index_days: u64,
    /// Inbound media (sent by anyone who messages the number) larger than this is not
    /// kept; the message is delivered with `media.error`.
    #[arg(long, env = "WAGATE_MAX_INBOUND_MEDIA_MB", default_value_t = 64)]
    pub max_inbound_media_mb: u64,
    /// Inbound media a session keeps on its volume, oldest evicted first. Default: 80 % of
    /// the volume (1 GiB when its size cannot be read), so gateway.db always has room.
    #[arg(long, env = "WAGATE_MEDIA_QUOTA_MB")]
    pub media_quota_mb: Option<u64>,
    /// On SIGTERM, how long a send in flight may still take; what is unfinished stays queued.
    #[arg(long, env = "WAGATE_SHUTDOWN_TIMEOUT_SECS", default_value_t = 20)]
    pub shutdown_timeout_secs: u64,
    /// Sessions of this process that may log in to WhatsApp at once (the first connect
    /// after start and every reconnect): WhatsApp punishes login storms.
    #[arg(long, env = "WAGATE_MAX_CONCURRENT_CONNECTS", default_value_t = 8)]
    pub max_concurrent_connects: usize,
    /// Each login first waits a random time below this many milliseconds.
    #[arg(long, env = "WAGATE_CONNECT_JITTER_MS", default_value_t = 500)]
    pub connect_jitter_ms: u64,
    /// A session linked before the process started first waits a share of this window,
    /// fixed by a hash of its id, so session pods restarting together (a node drain, an
    /// upgrade) do not all log in in the same second. Default: 20 in a session pod, 0 in
    /// the router (its sessions already share one pacer).
    #[arg(long, env = "WAGATE_CONNECT_SPREAD_SECS")]
    pub connect_spread_secs: Option<u64>,
    /// WhatsApp WebSocket URL override (the protocol simulator in tests).
    #[arg(long, env = "WAGATE_WHATSAPP_WS_URL", hide = true)]
    pub whatsapp_ws_url: Option<String>,
    /// Pin the WhatsApp Web version (e.g. 2.3000.1023456789) instead of reading it from
    /// web.whatsapp.com at connect, for clusters whose egress allows only the chat socket.
    #[arg(long, env = "WAGATE_WHATSAPP_VERSION", value_parser = parse_version)]
    pub whatsapp_version: Option<(u32, u32, u32)>,
}

fn parse_version(raw: &str) -> Result<(u32, u32, u32), String> {
    let parts: Option<Vec<u32>> = raw.trim().split('.').map(|p| p.parse().ok()).collect();
    match parts.as_deref() {
        Some(&[primary, secondary, tertiary]) => Ok((primary, secondary, tertiary)),
        _ => Err("must be three dot-separated numbers, like 2.3000.1023456789".into()),
    }
}

impl SessionArgs {
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("wagate-data").join(&self.session_id))
    }
}

/// A runtime flag that does not hold up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read --webhook-secret-file {path}: {source}")]
    WebhookSecret {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--webhook-url {0}")]
    WebhookUrl(String),
}

impl RuntimeArgs {
    /// The process's turns to log in; `default_spread` applies when the flag is not given.
    pub fn connect_pacer(&self, default_spread: Duration) -> ConnectPacer {
        ConnectPacer::new(
            self.max_concurrent_connects,
            Duration::from_millis(self.connect_jitter_ms),
            self.connect_spread_secs
                .map(Duration::from_secs)
                .unwrap_or(default_spread),
        )
    }

    /// The session settings these flags describe (reads the webhook secret file).
    pub fn session_config(&self, edge: &EdgeArgs) -> Result<SessionConfig, ConfigError> {
        let webhook_secret = match &self.webhook_secret_file {
            Some(path) => Some(wagate_http::secrets::read(path).map_err(|source| {
                ConfigError::WebhookSecret {
                    path: path.clone(),
                    source,
                }
            })?),
            None => None,
        };
        if let Some(url) = &self.webhook_url {
            wagate_api::session::validate_webhook_url(url).map_err(ConfigError::WebhookUrl)?;
        }
        Ok(SessionConfig {
            engine: self.engine,
            engine_options: EngineOptions {
                whatsapp_ws_url: self.whatsapp_ws_url.clone(),
                max_inbound_media_bytes: self.max_inbound_media_mb * 1024 * 1024,
                whatsapp_version: self.whatsapp_version,
                connect_pacer: self.connect_pacer(Duration::ZERO),
            },
            send_min_interval: Duration::from_millis(self.send_interval_ms),
            new_chats_per_day: self.new_chats_per_day,
            send_retry: RetryPolicy {
                first_delay: Duration::from_millis(self.send_retry_base_ms),
                ..SessionConfig::default().send_retry
            },
            send_wait: Duration::from_secs(self.send_wait_secs),
            default_webhook: DefaultWebhook {
                url: self.webhook_url.clone(),
                secret: webhook_secret,
                events: self.webhook_events.clone(),
            },
            webhook_retry: RetryPolicy {
                first_delay: Duration::from_millis(self.webhook_retry_base_ms),
                max_delay: Duration::from_millis(
                    self.webhook_retry_max_ms.max(self.webhook_retry_base_ms),
                ),
                give_up_after: Duration::from_secs(self.webhook_retry_for_secs),
            },
            media_retention: Duration::from_secs(self.media_retention_hours * 3600),
            message_index_retention: Duration::from_secs(self.message_index_days * 24 * 3600),
            media_quota: self.media_quota_mb.map(|mb| mb * 1024 * 1024),
            media_limits: edge.media_limits(),
            public_url: edge.public_url(),
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_secs),
            egress: Egress::new(edge.egress_policy()),
            ..SessionConfig::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn a_pinned_version_is_three_numbers() {
        assert_eq!(
            parse_version(" 2.3000.1023456789 "),
            Ok((2, 3000, 1023456789))
        );
        for bad in [
            "",
            "2.3000",
            "2.3000.1.4",
            "2.x.1",
            "2..1",
            "-1.2.3",
            "2.3000.99999999999",
        ] {
            assert!(parse_version(bad).is_err(), "{bad:?} accepted");
        }
    }
}
