//! The send loop: takes the head of the persistent outbox, in order, at most one message
//! per minimum interval, and hands it to the engine while the session is connected.
//! Transient failures keep the message at the head and retry with backoff (order is kept);
//! permanent ones fail it and move on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::{Notify, oneshot, watch};
use tokio_util::sync::CancellationToken;
use wagate_api::{ErrorCode, EventKind, MediaSource, MessageBody, SessionState};

use crate::config::SessionConfig;
use crate::engine::{Engine, EngineError, OutgoingMessage, Quote};
use crate::events::EventBus;
use crate::metrics::Metrics;
use crate::state::Snapshot;
use crate::store::{Enqueued, GatewayStore, NewMessage, StoreError, StoredMessage, now_ms};

/// How the outbox finished with a message.
pub(crate) enum Finished {
    Sent { at: i64 },
    Failed { code: ErrorCode, why: String },
}

/// A session's outbox: the durable queue in `gateway.db`, the worker that sends its head,
/// and the synchronous sends waiting for their message.
pub(crate) struct Outbox {
    session_id: String,
    store: GatewayStore,
    config: SessionConfig,
    wake: Notify,
    /// Synchronous sends waiting for their message to be sent or to fail.
    waiters: Mutex<HashMap<String, Vec<oneshot::Sender<()>>>>,
    metrics: Arc<Metrics>,
    events: Arc<EventBus>,
}

impl Outbox {
    pub fn new(
        session_id: &str,
        store: GatewayStore,
        config: SessionConfig,
        metrics: Arc<Metrics>,
        events: Arc<EventBus>,
    ) -> Self {
        Self {
            session_id: session_id.to_string(),
            store,
            config,
            wake: Notify::new(),
            waiters: Mutex::new(HashMap::new()),
            metrics,
            events,
        }
    }

    /// Something may be sendable now (a new message, a connection).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Queues `message`; with `wait`, also a receiver told when it was sent or failed.
    pub async fn enqueue(
        &self,
        message: NewMessage,
        wait: bool,
    ) -> Result<(Enqueued, Option<oneshot::Receiver<()>>), StoreError> {
        let id = message.id.clone();
        // Registered before the row exists: the worker may send it before `enqueue` returns.
        let done = wait.then(|| self.wait_for(&id));
        let enqueued = self.store.enqueue(message).await;
        if !matches!(enqueued, Ok(Enqueued::New(_))) {
            self.forget_waiters(&id);
        }
        let enqueued = enqueued?;
        if matches!(enqueued, Enqueued::New(_)) {
            self.wake();
            self.refresh_depth().await;
        }
        Ok((enqueued, done))
    }

    fn wait_for(&self, id: &str) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.to_string())
            .or_default()
            .push(tx);
        rx
    }

    fn forget_waiters(&self, id: &str) {
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    fn wake_waiters(&self, message_id: &str) {
        let waiters = self
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(message_id);
        for waiter in waiters.into_iter().flatten() {
            let _ = waiter.send(());
        }
    }

    async fn refresh_depth(&self) {
        if let Ok(depth) = self.store.queued_count().await {
            self.metrics
                .outbox_depth
                .with_label_values(&[&self.session_id])
                .set(depth);
        }
    }

    /// What a reply quotes, from the message index: its author and words, so the
    /// recipient's app shows the quote even without the quoted message at hand. A reply to
    /// a message the index does not know quotes by id only.
    async fn quote_of(&self, message: &StoredMessage) -> Option<Quote> {
        let id = message.reply_to.clone()?;
        // In this chat only: an id from another chat would quote (and leak) that chat.
        match self.store.indexed_in(message.to.clone(), id).await {
            Ok(Some(quoted)) => Some(Quote {
                author: (!quoted.from_me).then_some(quoted.sender),
                text: quoted.preview,
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the quoted message; quoting by id only");
                None
            }
        }
    }

    /// Records how a message finished, counts it, wakes a waiting sync send and publishes
    /// `message.status`.
    async fn finish(&self, id: &str, finished: Finished) {
        let (recorded, counter) = match finished {
            Finished::Sent { at } => (
                self.store.mark_sent(id.to_string(), at).await,
                &self.metrics.messages_sent,
            ),
            Finished::Failed { code, why } => {
                tracing::warn!(message_id = id, code = code.as_str(), %why, "message failed");
                (
                    self.store.mark_failed(id.to_string(), code, why).await,
                    &self.metrics.messages_failed,
                )
            }
        };
        match recorded {
            Ok(Some(message)) => {
                counter.with_label_values(&[&self.session_id]).inc();
                self.wake_waiters(id);
                let data = serde_json::to_value(message.to_result()).expect("serializable");
                self.events.publish(EventKind::MessageStatus, data).await;
            }
            Ok(None) => self.wake_waiters(id),
            // A sent message stays queued; its id makes the resend a no-op at WhatsApp.
            Err(e) => {
                tracing::error!(message_id = id, error = %e, "cannot record the outcome of a send")
            }
        }
    }
}

use crate::egress::{Egress, EgressError, FetchFailure};

/// Why the media of a message could not be had.
enum MediaError {
    /// Worth another attempt (the host was down, answered 5xx); consumes an attempt.
    Transient(String),
    /// Will not get better: the message fails with this code.
    Permanent(ErrorCode, String),
}

/// Downloads `url` through the egress guard with a running size cap. Error texts name no
/// URL and echo no response body.
async fn fetch_url(egress: &Egress, url: &str, limit: usize) -> Result<Vec<u8>, MediaError> {
    let denied = |e: EgressError| {
        MediaError::Permanent(ErrorCode::EgressDenied, format!("media URL refused: {e}"))
    };
    let too_large = || {
        MediaError::Permanent(
            ErrorCode::ValidationError,
            format!("media is larger than {} MiB", limit / (1024 * 1024)),
        )
    };
    let failed = |e: reqwest::Error| match FetchFailure::of(&e) {
        FetchFailure::Denied(e) => denied(e),
        other => MediaError::Transient(format!("media URL {other}")),
    };
    let resp = egress
        .request(reqwest::Method::GET, url)
        .map_err(denied)?
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .map_err(failed)?;
    let status = resp.status();
    if status.is_client_error() {
        return Err(MediaError::Permanent(
            ErrorCode::ValidationError,
            format!("media URL answered {status}"),
        ));
    }
    if !status.is_success() {
        return Err(MediaError::Transient(format!(
            "media URL answered {status}"
        )));
    }
    if resp
        .content_length()
        .is_some_and(|len| len as usize > limit)
    {
        return Err(too_large());
    }
    // Streamed with a running cap: a lying Content-Length cannot exhaust memory.
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(failed)?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The message as the engine takes it: media named by URL fetched (and so inline).
async fn to_outgoing(
    egress: &Egress,
    message: &StoredMessage,
    url_limit: usize,
) -> Result<OutgoingMessage, MediaError> {
    let mut body = message.body.clone();
    if let MessageBody::Media { source, .. } = &mut body {
        match source {
            MediaSource::Inline { bytes } if bytes.is_empty() => {
                return Err(MediaError::Permanent(
                    ErrorCode::Internal,
                    "queued media bytes are missing".into(),
                ));
            }
            MediaSource::Inline { .. } => {}
            MediaSource::Url { url } => {
                let bytes = fetch_url(egress, url, url_limit).await?;
                *source = MediaSource::Inline { bytes };
            }
        }
    }
    Ok(OutgoingMessage {
        id: message.id.clone(),
        to: message.to.clone(),
        body,
        reply_to: message.reply_to.clone(),
        quote: None,
    })
}

/// How long the worker waits after the engine refused a send for want of a connection.
const NOT_CONNECTED_PAUSE: Duration = Duration::from_millis(250);

impl Outbox {
    /// Sends the outbox through `engine` while `state` is connected, until `shutdown`. A send
    /// in flight is always finished.
    pub async fn run(
        self: Arc<Self>,
        engine: Arc<dyn Engine>,
        mut state: watch::Receiver<Snapshot>,
        shutdown: CancellationToken,
    ) {
        let config = self.config.clone();
        let mut last_send: Option<Instant> = None;
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            self.refresh_depth().await;
            // Only a connected session sends; everything else waits with the queue intact.
            if state.borrow_and_update().status != SessionState::Connected {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = state.changed() => continue,
                }
            }
            let head = match self.store.next_queued().await {
                Ok(head) => head,
                Err(e) => {
                    tracing::error!(error = %e, "outbox unreadable; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(5)) => continue,
                    }
                }
            };
            let Some(message) = head else {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = self.wake.notified() => continue,
                    _ = state.changed() => continue,
                }
            };
            let mut wait =
                Duration::from_millis((message.next_attempt_at - now_ms()).max(0) as u64);
            if let Some(last) = last_send {
                wait = wait.max(config.send_min_interval.saturating_sub(last.elapsed()));
            }
            if !wait.is_zero() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            last_send = Some(Instant::now());
            self.attempt(engine.as_ref(), message, &shutdown).await;
        }
    }

    /// One attempt at the head message. On shutdown a media download is abandoned at once and
    /// a send in flight gets `shutdown_timeout` to finish; either way the message stays queued
    /// (its id is fixed, so a resend after restart is not a duplicate).
    async fn attempt(
        &self,
        engine: &dyn Engine,
        message: StoredMessage,
        shutdown: &CancellationToken,
    ) {
        let config = &self.config;
        let media = to_outgoing(&config.egress, &message, config.media_limits.url_max_bytes);
        let outgoing = tokio::select! {
            _ = shutdown.cancelled() => return,
            outgoing = media => match outgoing {
                Ok(mut outgoing) => {
                    outgoing.quote = self.quote_of(&message).await;
                    outgoing
                }
                Err(MediaError::Permanent(code, why)) => {
                    return self.finish(&message.id, failed(code, why)).await;
                }
                Err(MediaError::Transient(why)) => return self.retry_or_fail(&message, why).await,
            },
        };
        if let Err(e) = self.store.record_attempt(message.id.clone()).await {
            tracing::error!(error = %e, "cannot record send attempt; will retry");
            tokio::time::sleep(Duration::from_secs(1)).await;
            return;
        }
        let send = engine.send(&outgoing);
        let grace = async {
            shutdown.cancelled().await;
            tokio::time::sleep(config.shutdown_timeout).await;
        };
        let sent = tokio::select! {
            sent = send => sent,
            _ = grace => {
                tracing::warn!(message_id = %message.id, "send still unanswered at shutdown; it stays queued");
                return;
            }
        };
        let finished = match sent {
            Ok(ack) => Finished::Sent {
                at: ack.at.timestamp_millis(),
            },
            // Not an attempt against WhatsApp: wait for the connection, not a backoff, and
            // give the attempt back (offline time does not use attempts).
            Err(EngineError::NotConnected) => {
                if let Err(e) = self.store.forget_attempt(message.id.clone()).await {
                    tracing::error!(error = %e, "cannot give back a send attempt");
                }
                // The state can say `connected` for a moment after the socket dropped: pause
                // rather than retry the head message in a tight loop until it catches up.
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(NOT_CONNECTED_PAUSE) => {}
                }
                return;
            }
            Err(EngineError::NotOnWhatsApp(number)) => failed(
                ErrorCode::NumberNotOnWhatsapp,
                format!("{number} is not on WhatsApp"),
            ),
            Err(e) if e.is_transient() => return self.retry_or_fail(&message, e.to_string()).await,
            Err(e) => failed(ErrorCode::UpstreamUnavailable, e.to_string()),
        };
        self.finish(&message.id, finished).await;
    }

    async fn retry_or_fail(&self, message: &StoredMessage, why: String) {
        let config = &self.config;
        let attempts = message.attempts + 1;
        let age = Duration::from_millis((now_ms() - message.created_at).max(0) as u64);
        if attempts >= config.send_max_attempts || age >= config.send_retry.give_up_after {
            let why = format!("gave up after {attempts} attempts: {why}");
            return self
                .finish(&message.id, failed(ErrorCode::UpstreamUnavailable, why))
                .await;
        }
        let next = now_ms() + config.send_retry.delay(message.attempts).as_millis() as i64;
        tracing::warn!(message_id = %message.id, %why, "send failed; will retry");
        if let Err(e) = self
            .store
            .schedule_retry(message.id.clone(), attempts, next, why)
            .await
        {
            tracing::error!(error = %e, "cannot schedule retry");
        }
    }
}

fn failed(code: ErrorCode, why: String) -> Finished {
    Finished::Failed { code, why }
}
