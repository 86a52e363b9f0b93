//! Routes each node a client sends to its handler.

use std::sync::Arc;

use wacore_binary::Node;

use crate::world::{ConnHandle, World};

impl World {
    pub async fn on_node(self: &Arc<Self>, conn: &ConnHandle, node: Node) {
        match node.tag.as_ref() {
            "iq" => self.on_iq(conn, &node).await,
            "message" => self.on_message(conn, &node).await,
            "receipt" => self.on_receipt(conn, &node).await,
            "ack" => {
                if let Some(id) = crate::nodes::attr(&node, "id") {
                    self.acknowledged(conn, &id).await;
                }
            }
            // Presence, chat state and client-side `<ib>`s need no answer from a server
            // that does not model them.
            "presence" | "chatstate" | "ib" | "unified_session" => {}
            other => tracing::info!("unmodelled stanza <{other}>: {}", crate::wire::xml(&node)),
        }
    }
}
