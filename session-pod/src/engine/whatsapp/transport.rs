//! Wraps the library's WebSocket transport to report dial failures to the session:
//! the library retries them quietly, but a user wants to see why a session is offline.

use std::sync::Arc;

use async_trait::async_trait;
use whatsapp_rust::async_channel::Receiver;
use whatsapp_rust::transport::TokioWebSocketTransportFactory;
use whatsapp_rust::wacore::net::{Transport, TransportEvent, TransportFactory};

use crate::engine::{EngineEvent, EventSink};

pub struct ReportingTransport {
    inner: TokioWebSocketTransportFactory,
    sink: EventSink,
}

impl ReportingTransport {
    pub fn new(url: Option<String>, sink: EventSink) -> Self {
        let mut inner = TokioWebSocketTransportFactory::new();
        if let Some(url) = url {
            inner = inner.with_url(url);
        }
        Self { inner, sink }
    }
}

#[async_trait]
impl TransportFactory for ReportingTransport {
    async fn create_transport(
        &self,
    ) -> Result<(Arc<dyn Transport>, Receiver<TransportEvent>), anyhow::Error> {
        let result = self.inner.create_transport().await;
        if let Err(e) = &result {
            let _ = self.sink.send(EngineEvent::Connecting {
                last_error: Some(format!("cannot reach WhatsApp: {e:#}")),
            });
        }
        result
    }
}
