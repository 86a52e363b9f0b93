//! Inbound messages are acknowledged to WhatsApp only once the session queued them.
//!
//! By default the library acks a message as soon as it is decrypted, so a crash (or a
//! failed write) before the session stored it loses it for good. This hook makes the ack
//! wait for the session's answer; a message that could not be queued stays unacked and
//! WhatsApp delivers it again on the next connection.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use whatsapp_rust::InboundDurabilityHook;
use whatsapp_rust::prelude::*;

use super::inbound;
use crate::engine::{Committed, EngineEvent, EventSink};

/// How long a batch may wait for the session to queue it before WhatsApp gets no ack.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Messages the hook handled that the library's `Messages` event will repeat.
const REMEMBERED: usize = 4096;

/// Keys of messages the hook already handed to the session, so the `Messages` event that
/// repeats them is not published twice. Messages that bypass the hook (newsletters, PDO
/// recoveries) are not in it and go out through the event.
#[derive(Default)]
pub struct Handled(Mutex<(HashSet<String>, VecDeque<String>)>);

impl Handled {
    pub fn key(message: &InboundMessage) -> String {
        let info = &message.info;
        format!("{}/{}/{}", info.source.chat, info.source.sender, info.id)
    }

    fn insert(&self, key: String) {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (set, order) = &mut *guard;
        if set.insert(key.clone()) {
            order.push_back(key);
            if order.len() > REMEMBERED
                && let Some(old) = order.pop_front()
            {
                set.remove(&old);
            }
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .contains(key)
    }
}

pub struct QueueBeforeAck {
    pub sink: EventSink,
    pub handled: Arc<Handled>,
    pub media: inbound::MediaSink,
}

#[async_trait]
impl InboundDurabilityHook for QueueBeforeAck {
    async fn on_messages(
        &self,
        client: Arc<Client>,
        batch: &[InboundMessage],
    ) -> anyhow::Result<()> {
        let mut answers = Vec::with_capacity(batch.len());
        for message in batch {
            // Remembered whatever the outcome: a failed commit is redelivered through the
            // hook again, never through the event.
            self.handled.insert(Handled::key(message));
            let Some(converted) = inbound::convert(Some(&client), &self.media, message).await
            else {
                continue;
            };
            let (committed, answer) = Committed::channel();
            self.sink
                .send(EngineEvent::Message(Box::new(converted), committed))
                .map_err(|_| anyhow::anyhow!("the session is stopping"))?;
            answers.push(answer);
        }
        // Every answer is awaited, so the batch is settled before the library decides.
        let mut all_queued = true;
        for answer in answers {
            all_queued &= matches!(
                tokio::time::timeout(COMMIT_TIMEOUT, answer).await,
                Ok(Ok(true))
            );
        }
        anyhow::ensure!(
            all_queued,
            "an inbound message could not be queued; WhatsApp will deliver it again"
        );
        Ok(())
    }
}
