//! One client connection: the Noise handshake, the login or registration it carries, then
//! encrypted nodes both ways until either side closes.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use waproto::buffa::Message as _;
use waproto::whatsapp as wa;

use crate::noise::{self, Step};
use crate::wire::{self, FrameReader};
use crate::world::{ConnHandle, Outbound, World};

/// The client has this long to finish the Noise handshake (its own limit is 20 s).
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("client went away during the handshake")]
    Gone,
    #[error(transparent)]
    Wire(#[from] wire::WireError),
    #[error(transparent)]
    Handshake(#[from] noise::HandshakeError),
    #[error("undecodable client payload: {0}")]
    Payload(String),
}

pub async fn serve(world: Arc<World>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    if world.is_down().await {
        let _ = sink.close().await;
        return;
    }
    let login = world.logins.enter();
    let delay = world.state.lock().await.faults.handshake_delay;
    tokio::time::sleep(delay).await;
    let mut reader = FrameReader::default();
    let mut pending = Vec::new();
    let handshake = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        handshake(&world, &mut sink, &mut stream, &mut reader, &mut pending),
    );
    let established = match handshake.await {
        Ok(Ok(established)) => established,
        Ok(Err(e)) => {
            tracing::debug!("handshake failed: {e}");
            let _ = sink.close().await;
            return;
        }
        Err(_) => {
            tracing::debug!("no handshake within {HANDSHAKE_TIMEOUT:?}");
            let _ = sink.close().await;
            return;
        }
    };
    world
        .state
        .lock()
        .await
        .handshakes
        .entry(pattern_name(established.pattern))
        .and_modify(|n| *n += 1)
        .or_insert(1);
    let (mut decrypt, mut encrypt) = established.transport.split();

    let (tx, mut rx) = mpsc::unbounded_channel();
    let conn = ConnHandle::new(world.next_conn_id(), tx);
    let mut writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            match out {
                Outbound::Node(node) => {
                    tracing::debug!(">> {}", wire::xml(&node));
                    let Ok(ciphertext) = encrypt.encrypt(&wire::encode_node(&node)) else {
                        break;
                    };
                    if sink
                        .send(Message::Binary(wire::frame(&ciphertext).into()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                Outbound::Close => break,
            }
        }
        let _ = sink.close().await;
    });

    if let Err(e) = admit(
        &world,
        &conn,
        &established.payload,
        established.client_static,
    )
    .await
    {
        tracing::debug!("refusing connection: {e}");
        conn.close();
    }
    drop(login);

    let mut frames = pending;
    'read: loop {
        for frame in frames.drain(..) {
            let Ok(plaintext) = decrypt.decrypt(frame) else {
                break 'read;
            };
            match wire::decode_node(&plaintext) {
                Ok(node) => {
                    tracing::debug!("<< {}", wire::xml(&node));
                    world.on_node(&conn, node).await;
                }
                Err(e) => tracing::warn!("{e}"),
            }
        }
        // Once the writer closed the socket (or lost it), a client that never hangs up
        // must not keep this connection "online".
        tokio::select! {
            more = next_frames(&mut stream, &mut reader) => match more {
                Some(more) => frames = more,
                None => break,
            },
            _ = &mut writer => break,
        }
    }
    world.disconnected(conn.id).await;
    writer.abort();
}

fn pattern_name(pattern: noise::Pattern) -> &'static str {
    match pattern {
        noise::Pattern::Xx => "xx",
        noise::Pattern::Ik => "ik",
        noise::Pattern::XxFallback => "xx-fallback",
    }
}

type Sink = futures::stream::SplitSink<WebSocket, Message>;
type Stream = futures::stream::SplitStream<WebSocket>;

/// Runs the handshake; frames that arrived right behind the client's last handshake
/// message are left in `pending`.
async fn handshake(
    world: &World,
    sink: &mut Sink,
    stream: &mut Stream,
    reader: &mut FrameReader,
    pending: &mut Vec<Vec<u8>>,
) -> Result<noise::Established, ConnError> {
    let hello = next_frame(stream, reader, pending).await?;
    let refuse_ik = world.state.lock().await.faults.refuse_ik;
    match noise::respond(&world.identity(), &hello, !refuse_ik)? {
        Step::Done(established, server_hello) => {
            send_raw(sink, &server_hello).await?;
            Ok(*established)
        }
        Step::AwaitFinish(xx, server_hello) => {
            send_raw(sink, &server_hello).await?;
            let finish = next_frame(stream, reader, pending).await?;
            Ok(xx.finish(&finish)?)
        }
    }
}

async fn send_raw(sink: &mut Sink, payload: &[u8]) -> Result<(), ConnError> {
    sink.send(Message::Binary(wire::frame(payload).into()))
        .await
        .map_err(|_| ConnError::Gone)
}

async fn next_frame(
    stream: &mut Stream,
    reader: &mut FrameReader,
    pending: &mut Vec<Vec<u8>>,
) -> Result<Vec<u8>, ConnError> {
    while pending.is_empty() {
        *pending = next_frames(stream, reader).await.ok_or(ConnError::Gone)?;
    }
    Ok(pending.remove(0))
}

/// The next batch of complete frames, or `None` once the socket is closed or broken.
async fn next_frames(stream: &mut Stream, reader: &mut FrameReader) -> Option<Vec<Vec<u8>>> {
    loop {
        match stream.next().await? {
            Ok(Message::Binary(data)) => match reader.feed(&data) {
                Ok(frames) if frames.is_empty() => continue,
                Ok(frames) => return Some(frames),
                Err(e) => {
                    tracing::debug!("{e}");
                    return None;
                }
            },
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// A registration payload starts pairing; a login payload logs an existing device in.
async fn admit(
    world: &Arc<World>,
    conn: &ConnHandle,
    payload: &[u8],
    client_static: [u8; 32],
) -> Result<(), ConnError> {
    let payload = wa::ClientPayload::decode_from_slice(payload)
        .map_err(|e| ConnError::Payload(e.to_string()))?;
    if let Some(registration) = payload.device_pairing_data.as_option() {
        world
            .begin_pairing(conn, registration, client_static)
            .await
            .map_err(|e| ConnError::Payload(e.to_string()))
    } else {
        let phone = payload
            .username
            .ok_or_else(|| ConnError::Payload("login without username".into()))?
            .to_string();
        let device = payload.device.unwrap_or(0) as u16;
        world.login(conn, &phone, device, client_static).await;
        Ok(())
    }
}
