//! Prometheus metrics of the session runtime. One `Metrics` is shared by every session of
//! a process (the router runs many), so each series carries a `session` label.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use wagate_api::SessionState;

pub struct Metrics {
    registry: Registry,
    pub messages_sent: IntCounterVec,
    pub messages_failed: IntCounterVec,
    pub messages_received: IntCounterVec,
    pub session_state: IntGaugeVec,
    pub webhook_deliveries: IntCounterVec,
    pub outbox_depth: IntGaugeVec,
    pub http_duration: HistogramVec,
    /// More exposition text appended to `/metrics` (the router's series gathered from pods).
    appendix: std::sync::RwLock<Option<Appendix>>,
}

type Appendix = Box<dyn Fn() -> String + Send + Sync>;

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "wagate_http_request_duration_seconds",
                "HTTP request latency by route and status",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(http_duration.clone()))
            .expect("unique metric");
        Self {
            messages_sent: counter(
                "wagate_messages_sent_total",
                "Messages WhatsApp accepted",
                &["session"],
            ),
            messages_failed: counter(
                "wagate_messages_failed_total",
                "Messages that failed for good",
                &["session"],
            ),
            messages_received: counter(
                "wagate_messages_received_total",
                "Inbound messages",
                &["session"],
            ),
            session_state: gauge(
                "wagate_session_state",
                "1 for the state each session is in",
                &["session", "state"],
            ),
            webhook_deliveries: counter(
                "wagate_webhook_deliveries_total",
                "Webhook delivery attempts by result (ok, retry, dead)",
                &["result"],
            ),
            outbox_depth: gauge(
                "wagate_outbox_depth",
                "Messages queued and not yet sent",
                &["session"],
            ),
            http_duration,
            registry,
            appendix: std::sync::RwLock::new(None),
        }
    }

    /// Sets the one-hot state gauge of a session.
    pub fn set_state(&self, session: &str, state: SessionState) {
        for s in SessionState::ALL {
            self.session_state
                .with_label_values(&[session, s.as_str()])
                .set(i64::from(s == state));
        }
    }

    /// Drops every series of a session that went away.
    pub fn forget_session(&self, session: &str) {
        for s in SessionState::ALL {
            let _ = self
                .session_state
                .remove_label_values(&[session, s.as_str()]);
        }
        for vec in [
            &self.messages_sent,
            &self.messages_failed,
            &self.messages_received,
        ] {
            let _ = vec.remove_label_values(&[session]);
        }
        let _ = self.outbox_depth.remove_label_values(&[session]);
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Appends `source()` to every `/metrics` answer; its families must not be registered here.
    pub fn append_with(&self, source: impl Fn() -> String + Send + Sync + 'static) {
        *self.appendix.write().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(source));
    }

    /// The text exposition format for `/metrics`.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        let mut text = String::from_utf8(buf).expect("prometheus text is UTF-8");
        if let Some(source) = self
            .appendix
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            text.push_str(&source());
        }
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_without_series_are_left_out_and_the_appendix_follows() {
        let metrics = Metrics::new();
        metrics.webhook_deliveries.with_label_values(&["ok"]).inc();
        metrics.append_with(|| "wagate_session_state{session=\"a\",state=\"qr\"} 1\n".into());
        let text = metrics.render();
        assert!(text.contains("wagate_webhook_deliveries_total{result=\"ok\"} 1"));
        // A process without local sessions must not print an empty TYPE line of a family
        // the appendix (series gathered from session pods) carries.
        assert_eq!(text.matches("# TYPE wagate_session_state").count(), 0);
        assert!(text.ends_with("wagate_session_state{session=\"a\",state=\"qr\"} 1\n"));
    }
}
