//! The session's behaviour settings at work: calls rejected (and answered at most once a
//! day per caller), messages read once their webhook was delivered, and the chats whose
//! events are left out.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use wagate_api::{CallReceivedData, EventKind, MessageBody, Recipient, ValidatedSend};

use super::Session;
use crate::engine::IncomingCall;
use crate::store::now_ms;

/// A caller whose call was rejected gets the reply at most this often.
const CALL_REPLY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

impl Session {
    /// Whether the settings leave out the events of `chat` (groups, status updates).
    pub(super) fn ignores_chat(&self, chat: &str) -> bool {
        let settings = self.settings.read().unwrap_or_else(|p| p.into_inner());
        (settings.ignore_groups && chat.ends_with("@g.us"))
            || (settings.ignore_status_broadcast && chat == "status@broadcast")
    }

    /// Publishes `call.received`; with `rejectCalls` declines the call first, and with a
    /// `rejectCallsMessage` answers the caller (once per 24 h) through the outbox.
    #[tracing::instrument(skip_all, fields(call = %call.call_id))]
    pub(super) async fn on_call(&self, call: IncomingCall) {
        let settings = self.settings();
        let rejected = settings.reject_calls
            && match self.engine.reject_call(&call).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reject a call");
                    false
                }
            };
        let data = CallReceivedData {
            call_id: call.call_id.clone(),
            from: call.from.clone(),
            from_lid: call.from_lid.clone(),
            video: call.video,
            group: call.group.clone(),
            rejected,
        };
        self.publish(
            EventKind::CallReceived,
            serde_json::to_value(data).expect("event data serializes"),
        )
        .await;
        if let (true, Some(message)) = (rejected, settings.reject_calls_message) {
            self.answer_caller(&call, message).await;
        }
    }

    async fn answer_caller(&self, call: &IncomingCall, message: String) {
        // A caller known only by LID is answered there; a group call is not answered.
        let Ok(to) = Recipient::parse(&call.from) else {
            return;
        };
        if call.group.is_some() {
            return;
        }
        match self
            .store
            .claim_call_reply(to.jid(), now_ms(), CALL_REPLY_WINDOW_MS)
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot note a call reply");
                return;
            }
        }
        let send = ValidatedSend {
            to,
            content: MessageBody::Text {
                text: message,
                mentions: Vec::new(),
            },
            reply_to: None,
            idempotency_key: Some(format!("call-reply-{}", call.call_id)),
        };
        if let Err(e) = self.send(send, false).await {
            tracing::warn!(error = %e, "cannot answer a rejected caller");
        }
    }

    /// `autoRead` for a message no webhook will take: read once it is published.
    pub(super) async fn read_unless_delivered(&self, chat: &str, id: &str) {
        if !self.settings().auto_read || chat == "status@broadcast" {
            return;
        }
        let watched = self
            .webhooks
            .target()
            .await
            .is_some_and(|t| t.wants(EventKind::MessageReceived));
        if !watched {
            self.read_now(chat.to_string(), id.to_string()).await;
        }
    }

    async fn read_now(&self, chat: String, id: String) {
        if let Err(e) = self.mark_read(chat, Some(vec![id])).await {
            tracing::debug!(error = %e, "auto-read skipped");
        }
    }
}

/// `autoRead`: marks each received message read once its `message.received` webhook was
/// delivered (the receiver answered 2xx), so a message the app never got stays unread on
/// the phone.
pub(super) async fn read_after_delivery(
    session: Arc<Session>,
    mut delivered: mpsc::UnboundedReceiver<String>,
    shutdown: CancellationToken,
) {
    loop {
        let body = tokio::select! {
            _ = shutdown.cancelled() => return,
            body = delivered.recv() => match body {
                Some(body) => body,
                None => return,
            },
        };
        if !session.settings().auto_read {
            continue;
        }
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&body) else {
            continue;
        };
        let data = &event["data"];
        // Reading a status update tells its poster it was viewed: not the app's to decide.
        if data["fromMe"] == true || data["chat"] == "status@broadcast" {
            continue;
        }
        if let (Some(chat), Some(id)) = (data["chat"].as_str(), data["messageId"].as_str()) {
            session.read_now(chat.to_string(), id.to_string()).await;
        }
    }
}
