//! Wraps the library's WebSocket transport, which every connect attempt (the first and
//! each reconnect of the library's own loop) goes through, to take a turn from the
//! connect pacer before dialling and to report dial failures to the session: the library
//! retries them quietly, but a user wants to see why a session is offline.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use whatsapp_rust::async_channel::Receiver;
use whatsapp_rust::transport::TokioWebSocketTransportFactory;
use whatsapp_rust::wacore::net::{Transport, TransportEvent, TransportFactory};

use crate::engine::pacer::{ConnectPacer, LoginTurn};
use crate::engine::{EngineEvent, EventSink};

/// The library gives a dial 20 s, our wait for a turn included; past this the attempt
/// fails and the library backs off (with its own jitter) and asks again.
const TURN_WAIT: Duration = Duration::from_secs(15);

pub struct ReportingTransport {
    inner: TokioWebSocketTransportFactory,
    sink: EventSink,
    pacer: ConnectPacer,
    login: Arc<LoginTurn>,
}

impl ReportingTransport {
    pub fn new(
        url: Option<String>,
        sink: EventSink,
        pacer: ConnectPacer,
        login: Arc<LoginTurn>,
    ) -> Self {
        let mut inner = TokioWebSocketTransportFactory::new();
        if let Some(url) = url {
            inner = inner.with_url(url);
        }
        Self {
            inner,
            sink,
            pacer,
            login,
        }
    }

    fn report(&self, error: String) {
        let _ = self.sink.send(EngineEvent::Connecting {
            last_error: Some(error),
        });
    }
}

#[async_trait]
impl TransportFactory for ReportingTransport {
    async fn create_transport(
        &self,
    ) -> Result<(Arc<dyn Transport>, Receiver<TransportEvent>), anyhow::Error> {
        // A session that already holds a turn (its first login, or the reconnect WhatsApp
        // asks for right after pairing) keeps it.
        if !self.login.is_held() {
            match tokio::time::timeout(TURN_WAIT, self.pacer.turn()).await {
                Ok(turn) => self.login.hold(turn),
                Err(_) => {
                    let error = format!(
                        "waiting for a turn to log in ({} sessions log in at once)",
                        self.pacer.max_concurrent()
                    );
                    self.report(error.clone());
                    return Err(anyhow::anyhow!(error));
                }
            }
        }
        let result = self.inner.create_transport().await;
        if let Err(e) = &result {
            self.login.release();
            self.report(format!("cannot reach WhatsApp: {e:#}"));
        }
        result
    }
}
