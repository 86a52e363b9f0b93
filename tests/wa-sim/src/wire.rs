//! Bytes on the WebSocket: the connection header, 3-byte length frames, and binary nodes.

use wacore_binary::Node;
use wacore_noise::framing::FrameDecoder;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("connection header is not WhatsApp's ({0:?})")]
    BadHeader(Vec<u8>),
    #[error("undecodable node: {0}")]
    Node(String),
}

/// Splits the client's byte stream into frames. The very first bytes carry an optional
/// edge-routing pre-intro (`ED\0\1` + 3-byte length + data) and the `WA` header.
pub struct FrameReader {
    header_seen: bool,
    pending: Vec<u8>,
    decoder: FrameDecoder,
}

impl Default for FrameReader {
    fn default() -> Self {
        Self {
            header_seen: false,
            pending: Vec::new(),
            decoder: FrameDecoder::new(),
        }
    }
}

impl FrameReader {
    /// Feeds received bytes; returns every complete frame.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<Vec<u8>>, WireError> {
        if !self.header_seen {
            self.pending.extend_from_slice(data);
            let Some(consumed) = header_length(&self.pending)? else {
                return Ok(Vec::new());
            };
            self.header_seen = true;
            let rest = self.pending.split_off(consumed);
            self.pending.clear();
            self.decoder.feed(&rest);
        } else {
            self.decoder.feed(data);
        }
        let mut frames = Vec::new();
        while let Some(frame) = self.decoder.decode_frame() {
            frames.push(frame.to_vec());
        }
        Ok(frames)
    }
}

/// Length of the pre-intro + `WA` header at the start of `buf`, once all of it arrived.
fn header_length(buf: &[u8]) -> Result<Option<usize>, WireError> {
    let mut at = 0;
    if buf.len() < 4 {
        return Ok(None);
    }
    if &buf[..2] == b"ED" {
        if buf.len() < 7 {
            return Ok(None);
        }
        let len = (buf[4] as usize) << 16 | (buf[5] as usize) << 8 | buf[6] as usize;
        at = 7 + len;
        if buf.len() < at + 4 {
            return Ok(None);
        }
    }
    if &buf[at..at + 2] != b"WA" {
        return Err(WireError::BadHeader(buf[at..at + 4].to_vec()));
    }
    Ok(Some(at + 4))
}

/// Wraps one payload in a frame.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    wacore_noise::framing::encode_frame(payload, None).expect("frames are far below 16 MiB")
}

/// Decodes a decrypted frame into a node (the first byte says whether it is compressed).
pub fn decode_node(plaintext: &[u8]) -> Result<Node, WireError> {
    let unpacked =
        wacore_binary::util::unpack(plaintext).map_err(|e| WireError::Node(e.to_string()))?;
    let node = wacore_binary::marshal::unmarshal_ref(&unpacked)
        .map_err(|e| WireError::Node(e.to_string()))?;
    Ok(node.to_owned())
}

/// Encodes a node (uncompressed, with the leading format byte).
pub fn encode_node(node: &Node) -> Vec<u8> {
    wacore_binary::marshal(node).expect("nodes built by the simulator always encode")
}

/// The node as XML, for logs and test failure messages.
pub fn xml(node: &Node) -> String {
    wacore::xml::DisplayableNode(node).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_may_arrive_in_pieces_and_with_an_edge_routing_preintro() {
        let mut reader = FrameReader::default();
        assert!(reader.feed(b"ED\0\x01\0\0\x02").unwrap().is_empty());
        assert!(reader.feed(b"xyWA\x06").unwrap().is_empty());
        let mut rest = vec![3u8];
        rest.extend(frame(b"hello"));
        assert_eq!(reader.feed(&rest).unwrap(), vec![b"hello".to_vec()]);
    }

    #[test]
    fn a_foreign_header_is_refused() {
        let mut reader = FrameReader::default();
        assert!(reader.feed(b"GET / HTTP/1.1").is_err());
    }
}
