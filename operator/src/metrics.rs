//! The operator's Prometheus metrics (`wagate_` prefix): reconciles, errors, their duration
//! and sessions by phase.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
};
use wagate_api::crd::Phase;

pub struct Metrics {
    pub registry: Registry,
    reconciles: IntCounterVec,
    errors: IntCounterVec,
    duration: HistogramVec,
    phases: IntGaugeVec,
    /// Phase of each session (namespace/name), so the gauge counts each once.
    known: Mutex<HashMap<String, Phase>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        let reconciles = IntCounterVec::new(
            Opts::new(
                "wagate_reconcile_total",
                "Reconciles of WhatsAppSession resources",
            ),
            &["result"],
        )
        .expect("valid metric");
        let errors = IntCounterVec::new(
            Opts::new(
                "wagate_reconcile_errors_total",
                "Failed reconciles by error kind",
            ),
            &["error"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new("wagate_reconcile_duration_seconds", "Time of one reconcile")
                .buckets(vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 15.0,
                ]),
            &[],
        )
        .expect("valid metric");
        let phases = IntGaugeVec::new(
            Opts::new("wagate_sessions", "WhatsAppSession resources by phase"),
            &["phase"],
        )
        .expect("valid metric");
        for metric in [
            Box::new(reconciles.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(errors.clone()),
            Box::new(duration.clone()),
            Box::new(phases.clone()),
        ] {
            registry.register(metric).expect("metric names are unique");
        }
        Self {
            registry,
            reconciles,
            errors,
            duration,
            phases,
            known: Mutex::default(),
        }
    }
}

impl Metrics {
    pub fn reconciled(&self, took: Duration, ok: bool) {
        self.duration
            .with_label_values::<&str>(&[])
            .observe(took.as_secs_f64());
        self.reconciles
            .with_label_values(&[if ok { "ok" } else { "error" }])
            .inc();
    }

    pub fn error(&self, kind: &str) {
        self.errors.with_label_values(&[kind]).inc();
    }

    /// Records a session's phase (`None` once it is gone) and refreshes the gauge.
    pub fn set_phase(&self, key: &str, phase: Option<Phase>) {
        let mut known = self.known.lock().expect("metrics lock");
        match phase {
            Some(phase) => known.insert(key.to_string(), phase),
            None => known.remove(key),
        };
        let mut counts: HashMap<String, i64> = HashMap::new();
        for phase in known.values() {
            *counts.entry(format!("{phase:?}")).or_default() += 1;
        }
        self.phases.reset();
        for (phase, count) in counts {
            self.phases.with_label_values(&[&phase]).set(count);
        }
    }

    pub fn render(&self) -> String {
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding cannot fail");
        String::from_utf8(out).expect("prometheus text is UTF-8")
    }
}
