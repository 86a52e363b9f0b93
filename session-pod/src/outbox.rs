//! The send loop: takes the head of the persistent outbox, in order, at most one message
//! per minimum interval, and hands it to the engine while the session is connected.
//! Transient failures keep the message at the head and retry with backoff (order is kept);
//! permanent ones fail it and move on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use wagate_api::{ErrorCode, SessionState};

use crate::engine::{EngineError, OutgoingBody, OutgoingMessage};
use crate::session::{Finished, Session};
use crate::store::{StoredBody, StoredMediaSource, StoredMessage, now_ms};

/// Why the media of a message could not be had.
enum MediaError {
    Transient(String),
    Permanent(String),
}

async fn fetch_url(
    client: &reqwest::Client,
    url: &str,
    limit: usize,
) -> Result<Vec<u8>, MediaError> {
    let resp = client
        .get(url)
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .map_err(|e| MediaError::Transient(format!("media download failed: {e}")))?;
    let status = resp.status();
    if status.is_client_error() {
        return Err(MediaError::Permanent(format!(
            "media URL answered {status}"
        )));
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
        return Err(MediaError::Permanent(format!(
            "media is larger than {} MiB",
            limit / (1024 * 1024)
        )));
    }
    // Streamed with a running cap: a lying Content-Length cannot exhaust memory.
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| MediaError::Transient(format!("media download failed: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(MediaError::Permanent(format!(
                "media is larger than {} MiB",
                limit / (1024 * 1024)
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn to_outgoing(
    client: &reqwest::Client,
    message: &StoredMessage,
    inline: Option<Vec<u8>>,
    url_limit: usize,
) -> Result<OutgoingMessage, MediaError> {
    let body = match &message.body {
        StoredBody::Text { text } => OutgoingBody::Text(text.clone()),
        StoredBody::Media {
            kind,
            source,
            mime_type,
            file_name,
            caption,
        } => {
            let bytes = match source {
                StoredMediaSource::Inline => inline.ok_or_else(|| {
                    MediaError::Permanent("queued media bytes are missing".into())
                })?,
                StoredMediaSource::Url { url } => fetch_url(client, url, url_limit).await?,
            };
            OutgoingBody::Media {
                kind: *kind,
                bytes,
                mime_type: mime_type.clone(),
                file_name: file_name.clone(),
                caption: caption.clone(),
            }
        }
    };
    Ok(OutgoingMessage {
        id: message.id.clone(),
        to: message.to.clone(),
        body,
        reply_to: message.reply_to.clone(),
    })
}

/// Sends the session's outbox until `shutdown`. A send in flight is always finished.
pub(crate) async fn run(
    session: Arc<Session>,
    client: reqwest::Client,
    shutdown: CancellationToken,
) {
    let config = session.config().clone();
    let mut last_send: Option<Instant> = None;
    let mut state = session.watch_state();
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        session.refresh_outbox_depth().await;
        // Only a connected session sends; everything else waits with the queue intact.
        if state.borrow_and_update().status != SessionState::Connected {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = state.changed() => continue,
            }
        }
        let head = match session.store().next_queued().await {
            Ok(head) => head,
            Err(e) => {
                tracing::error!(session = session.id(), error = %e, "outbox unreadable; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(5)) => continue,
                }
            }
        };
        let Some((message, inline)) = head else {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = session.outbox_wake().notified() => continue,
                _ = state.changed() => continue,
            }
        };
        let mut wait = Duration::from_millis((message.next_attempt_at - now_ms()).max(0) as u64);
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
        attempt(&session, &client, message, inline).await;
    }
}

async fn attempt(
    session: &Arc<Session>,
    client: &reqwest::Client,
    message: StoredMessage,
    inline: Option<Vec<u8>>,
) {
    let config = session.config();
    let outgoing =
        match to_outgoing(client, &message, inline, config.media_limits.url_max_bytes).await {
            Ok(outgoing) => outgoing,
            Err(MediaError::Permanent(why)) => {
                return session
                    .finish(&message.id, failed(ErrorCode::ValidationError, why))
                    .await;
            }
            Err(MediaError::Transient(why)) => return retry_or_fail(session, &message, why).await,
        };
    if let Err(e) = session.store().record_attempt(message.id.clone()).await {
        tracing::error!(session = session.id(), error = %e, "cannot record send attempt; will retry");
        tokio::time::sleep(Duration::from_secs(1)).await;
        return;
    }
    let finished = match session.engine().send(&outgoing).await {
        Ok(ack) => Finished::Sent {
            at: ack.at.timestamp_millis(),
        },
        // Not an attempt against WhatsApp: wait for the connection, not a backoff.
        Err(EngineError::NotConnected) => return,
        Err(EngineError::NotOnWhatsApp(number)) => failed(
            ErrorCode::NumberNotOnWhatsapp,
            format!("{number} is not on WhatsApp"),
        ),
        Err(e) if e.is_transient() => return retry_or_fail(session, &message, e.to_string()).await,
        Err(e) => failed(ErrorCode::UpstreamUnavailable, e.to_string()),
    };
    session.finish(&message.id, finished).await;
}

fn failed(code: ErrorCode, why: String) -> Finished {
    Finished::Failed { code, why }
}

async fn retry_or_fail(session: &Arc<Session>, message: &StoredMessage, why: String) {
    let config = session.config();
    let attempts = message.attempts + 1;
    let age = Duration::from_millis((now_ms() - message.created_at).max(0) as u64);
    if attempts >= config.send_max_attempts || age >= config.send_retry.give_up_after {
        let why = format!("gave up after {attempts} attempts: {why}");
        return session
            .finish(&message.id, failed(ErrorCode::UpstreamUnavailable, why))
            .await;
    }
    let next = now_ms() + config.send_retry.delay(message.attempts).as_millis() as i64;
    tracing::warn!(session = session.id(), message_id = %message.id, %why, "send failed; will retry");
    if let Err(e) = session
        .store()
        .schedule_retry(message.id.clone(), next, why)
        .await
    {
        tracing::error!(session = session.id(), error = %e, "cannot schedule retry");
    }
}
