//! Routes each node a client sends to its handler.

use std::sync::Arc;

use wacore_binary::Node;

use crate::world::{ConnHandle, World};

impl World {
    /// Records a `<chatstate>` (typing, recording, paused) or `<presence>` the client sent.
    async fn on_signal(&self, node: &Node) {
        use crate::nodes::attr;
        let state = match node.tag.as_ref() {
            "chatstate" => match node.children().and_then(|c| c.first()) {
                Some(child) if attr(child, "media").as_deref() == Some("audio") => {
                    "recording".to_string()
                }
                Some(child) => child.tag.to_string(),
                None => return,
            },
            _ => attr(node, "type").unwrap_or_else(|| "available".into()),
        };
        let signal = crate::world::ClientSignal {
            tag: node.tag.to_string(),
            to: attr(node, "to"),
            state,
        };
        self.state.lock().await.client_signals.push(signal);
        self.notify();
    }

    pub async fn on_node(self: &Arc<Self>, conn: &ConnHandle, node: Node) {
        match node.tag.as_ref() {
            "iq" => self.on_iq(conn, &node).await,
            "message" => self.on_message(conn, &node).await,
            "receipt" => self.on_receipt(conn, &node).await,
            "call" => self.on_client_call(conn, &node).await,
            "ack" => {
                if let Some(id) = crate::nodes::attr(&node, "id") {
                    self.acknowledged(conn, &id).await;
                }
            }
            // Presence and chat state need no answer; they are recorded for tests.
            "presence" | "chatstate" => {
                let me = self.state.lock().await.device_on(conn.id);
                if node.tag == "presence"
                    && let Some((phone, _)) = me
                {
                    self.announced_name(&phone, &node).await;
                }
                self.on_signal(&node).await
            }
            // Client-side `<ib>`s need no answer from a server that does not model them.
            "ib" | "unified_session" => {}
            other => tracing::info!("unmodelled stanza <{other}>: {}", crate::wire::xml(&node)),
        }
    }
}
