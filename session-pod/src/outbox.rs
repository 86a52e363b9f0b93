//! The send loop: takes the head of the persistent outbox, in order, at most one message
//! per minimum interval, and hands it to the engine while the session is connected.
//! Transient failures keep the message at the head and retry with backoff (order is kept);
//! permanent ones fail it and move on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use wagate_api::{ErrorCode, SessionState};

use crate::egress::{Egress, EgressError, FetchFailure};
use wagate_api::{MediaSource, MessageBody};

use crate::engine::{EngineError, OutgoingMessage};
use crate::session::{Finished, Session};
use crate::store::{StoredMessage, now_ms};

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
    })
}

/// How long the worker waits after the engine refused a send for want of a connection.
const NOT_CONNECTED_PAUSE: Duration = Duration::from_millis(250);

/// Sends the session's outbox until `shutdown`. A send in flight is always finished.
pub(crate) async fn run(session: Arc<Session>, shutdown: CancellationToken) {
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
        let Some(message) = head else {
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
        attempt(&session, message, &shutdown).await;
    }
}

/// One attempt at the head message. On shutdown a media download is abandoned at once and
/// a send in flight gets `shutdown_timeout` to finish; either way the message stays queued
/// (its id is fixed, so a resend after restart is not a duplicate).
async fn attempt(session: &Arc<Session>, message: StoredMessage, shutdown: &CancellationToken) {
    let config = session.config();
    let media = to_outgoing(&config.egress, &message, config.media_limits.url_max_bytes);
    let outgoing = tokio::select! {
        _ = shutdown.cancelled() => return,
        outgoing = media => match outgoing {
            Ok(outgoing) => outgoing,
            Err(MediaError::Permanent(code, why)) => {
                return session.finish(&message.id, failed(code, why)).await;
            }
            Err(MediaError::Transient(why)) => return retry_or_fail(session, &message, why).await,
        },
    };
    if let Err(e) = session.store().record_attempt(message.id.clone()).await {
        tracing::error!(session = session.id(), error = %e, "cannot record send attempt; will retry");
        tokio::time::sleep(Duration::from_secs(1)).await;
        return;
    }
    let send = session.engine().send(&outgoing);
    let grace = async {
        shutdown.cancelled().await;
        tokio::time::sleep(config.shutdown_timeout).await;
    };
    let sent = tokio::select! {
        sent = send => sent,
        _ = grace => {
            tracing::warn!(session = session.id(), message_id = %message.id, "send still unanswered at shutdown; it stays queued");
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
            if let Err(e) = session.store().forget_attempt(message.id.clone()).await {
                tracing::error!(session = session.id(), error = %e, "cannot give back a send attempt");
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
        .schedule_retry(message.id.clone(), attempts, next, why)
        .await
    {
        tracing::error!(session = session.id(), error = %e, "cannot schedule retry");
    }
}
