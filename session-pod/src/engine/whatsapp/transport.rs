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
        // The first login after start was given its turn before the client was spawned.
        // Any other waits for one here; it stays local until the dial succeeds, so an
        // attempt the library abandons (its 20 s timeout) gives it back at once.
        let fresh = if self.login.is_held() {
            None
        } else {
            match tokio::time::timeout(TURN_WAIT, self.pacer.turn()).await {
                Ok(turn) => Some(turn),
                Err(_) => {
                    let error = format!(
                        "waiting for a turn to log in ({} sessions log in at once)",
                        self.pacer.max_concurrent()
                    );
                    self.report(error.clone());
                    return Err(anyhow::anyhow!(error));
                }
            }
        };
        if self.login.is_closed() {
            return Err(anyhow::anyhow!("the session's client was stopped"));
        }
        match self.inner.create_transport().await {
            Ok((transport, events)) => {
                if let Some(turn) = fresh {
                    self.login.hold(turn);
                }
                let paced = PacedTransport {
                    inner: transport,
                    login: self.login.clone(),
                };
                Ok((Arc::new(paced), events))
            }
            Err(e) => {
                self.login.release();
                self.report(format!("cannot reach WhatsApp: {e:#}"));
                Err(e)
            }
        }
    }
}

/// The library closes the transport when a handshake or login fails without an event
/// (and before every reconnect): that too ends the login, and its turn goes back.
struct PacedTransport {
    inner: Arc<dyn Transport>,
    login: Arc<LoginTurn>,
}

#[async_trait]
impl Transport for PacedTransport {
    async fn send(&self, data: bytes::Bytes) -> Result<(), anyhow::Error> {
        self.inner.send(data).await
    }

    async fn disconnect(&self) {
        self.login.release();
        self.inner.disconnect().await;
    }

    fn resource_report(&self) -> Option<whatsapp_rust::wacore::stats::TransportResourceReport> {
        self.inner.resource_report()
    }
}
