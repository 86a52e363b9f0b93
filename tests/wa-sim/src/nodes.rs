//! Small readers and builders over binary nodes, shared by the handlers.

use wacore_binary::builder::NodeBuilder;
use wacore_binary::{Jid, Node, NodeContent};

/// The server's own JID, `s.whatsapp.net`.
pub fn server_jid() -> Jid {
    Jid::new("", wacore_binary::Server::Pn)
}

pub fn attr(node: &Node, key: &str) -> Option<String> {
    node.attrs.get(key).map(|v| v.as_str().into_owned())
}

pub fn jid_attr(node: &Node, key: &str) -> Option<Jid> {
    node.attrs.get(key).and_then(|v| v.to_jid())
}

pub fn child<'a>(node: &'a Node, tag: &str) -> Option<&'a Node> {
    node.get_optional_child(tag)
}

pub fn children<'a>(node: &'a Node, tag: &'a str) -> impl Iterator<Item = &'a Node> {
    node.get_children_by_tag(tag)
}

pub fn bytes(node: &Node) -> Option<&[u8]> {
    match &node.content {
        Some(NodeContent::Bytes(b)) => Some(b),
        Some(NodeContent::String(s)) => Some(s.as_bytes()),
        _ => None,
    }
}

pub fn text(node: &Node) -> Option<String> {
    bytes(node).map(|b| String::from_utf8_lossy(b).into_owned())
}

/// A 32-byte key, if that is what the bytes are.
pub fn fixed32(bytes: Option<&[u8]>) -> Option<[u8; 32]> {
    bytes.and_then(|b| <[u8; 32]>::try_from(b).ok())
}

/// A big-endian `u32` of exactly four bytes (registration ids).
pub fn be_u32(bytes: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(bytes).ok().map(u32::from_be_bytes)
}

/// `<iq type="result" id from="s.whatsapp.net">children</iq>`
pub fn iq_result(id: &str, children: Vec<Node>) -> Node {
    let builder = NodeBuilder::new("iq")
        .attr("from", server_jid())
        .attr("id", id)
        .attr("type", "result");
    if children.is_empty() {
        builder.build()
    } else {
        builder.children(children).build()
    }
}

/// `<iq type="error"><error code text/></iq>`
pub fn iq_error(id: &str, code: u16, text: &str) -> Node {
    NodeBuilder::new("iq")
        .attr("from", server_jid())
        .attr("id", id)
        .attr("type", "error")
        .children([NodeBuilder::new("error")
            .attr("code", code.to_string())
            .attr("text", text)
            .build()])
        .build()
}

pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A server-chosen stanza id (WhatsApp's are upper-case hex).
pub fn new_id() -> String {
    hex::encode_upper(rand::random::<[u8; 8]>())
}
