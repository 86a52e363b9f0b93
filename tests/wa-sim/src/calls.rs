//! Calls: a contact rings an account (`<call><offer>` to each online companion, as
//! WhatsApp's signalling does), and what a companion answers (`<call><reject>`) is
//! recorded, acknowledged with the `<ack class="call">` WhatsApp sends.

use std::time::Duration;

use wacore_binary::builder::NodeBuilder;
use wacore_binary::{Jid, Node};

use crate::nodes::{attr, new_id, now_secs};
use crate::world::{ConnHandle, World};

/// What a companion did with a call.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallAnswer {
    pub call_id: String,
    /// `reject` (the only answer a companion without media gives).
    pub action: String,
    /// Whom the stanza went to (the caller's JID).
    pub to: String,
}

impl World {
    /// Contact `from` calls account `to`; returns the call id and how many online devices
    /// it rang.
    pub async fn call(&self, from: &str, to: &str, video: bool) -> Result<(String, usize), String> {
        let state = self.state.lock().await;
        let push_name = state
            .contacts
            .get(from)
            .map(|c| c.push_name.clone())
            .ok_or_else(|| format!("{from} is not a simulated contact"))?;
        let account = state
            .accounts
            .get(to)
            .ok_or_else(|| format!("{to} is not a simulated account"))?;
        if account.blocked.contains_key(from) {
            return Err(format!("{to} blocks {from}"));
        }
        let call_id = new_id();
        let mut media = vec![
            NodeBuilder::new("audio")
                .attr("enc", "opus")
                .attr("rate", "16000")
                .build(),
        ];
        if video {
            media.push(NodeBuilder::new("video").attr("enc", "vp8").build());
        }
        let offer = NodeBuilder::new("offer")
            .attr("call-id", call_id.as_str())
            .attr("call-creator", Jid::pn(from))
            .children(media)
            .build();
        let mut rang = 0;
        for companion in account.companions.values().filter(|c| c.linked) {
            if let Some(conn) = state.conn_of(to, companion.device) {
                conn.send(
                    NodeBuilder::new("call")
                        .attr("from", Jid::pn(from))
                        .attr("id", new_id())
                        .attr("t", now_secs().to_string())
                        .attr("notify", push_name.as_str())
                        .children([offer.clone()])
                        .build(),
                );
                rang += 1;
            }
        }
        Ok((call_id, rang))
    }

    /// A `<call>` from a companion: a reject (or another answer) is recorded and acked.
    pub(crate) async fn on_client_call(&self, conn: &ConnHandle, node: &Node) {
        let Some(id) = attr(node, "id") else { return };
        let to = attr(node, "to").unwrap_or_default();
        let answer = node.children().and_then(|c| c.first());
        let Some(answer) = answer else { return };
        let action = answer.tag.to_string();
        if let Some(call_id) = attr(answer, "call-id") {
            self.state.lock().await.call_answers.push(CallAnswer {
                call_id,
                action: action.clone(),
                to: to.clone(),
            });
            self.notify();
        }
        conn.send(
            NodeBuilder::new("ack")
                .attr("class", "call")
                .attr("type", action.as_str())
                .attr("id", id.as_str())
                .attr("from", to.as_str())
                .build(),
        );
    }

    /// Waits until a companion answered call `call_id` (`None` after `timeout`).
    pub async fn wait_call_answer(&self, timeout: Duration, call_id: &str) -> Option<CallAnswer> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(answer) = self
                .state
                .lock()
                .await
                .call_answers
                .iter()
                .find(|a| a.call_id == call_id)
                .cloned()
            {
                return Some(answer);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
