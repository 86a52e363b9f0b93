//! WhatsApp's media CDN: an HTTPS host that the `media_conn` IQ names. It takes the
//! client's uploads (`POST /mms/{type}/{token}`, checked like WhatsApp checks them: the
//! media auth, and the token naming the SHA-256 of the encrypted bytes), serves blobs by
//! direct path (what contacts send, and what the client uploaded, for a contact to
//! download), and counts the bytes it served (a test of a download cap checks how much was
//! read). The client builds
//! `https://{host}{directPath}?…` URLs, so the host speaks TLS, with a certificate made per
//! run that only a client built for the simulator accepts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::server::TlsStream;

/// What the host serves at one direct path.
#[derive(Clone)]
pub enum Blob {
    /// An encrypted media file, as uploaded.
    Bytes(Bytes),
    /// A hostile stream: `len` bytes of filler, whatever the message declared.
    Filler { len: u64 },
}

/// The `auth` the `media_conn` answer hands out and uploads must carry.
pub const MEDIA_AUTH: &str = "sim-media-auth";
/// Uploads above this are refused (WhatsApp's own cap on documents is 2 GB; tests stay far
/// below).
const UPLOAD_MAX: usize = 128 * 1024 * 1024;

#[derive(Default)]
struct Store {
    blobs: Mutex<HashMap<String, Blob>>,
    /// Direct paths of uploads, by token (a repeated upload is answered `complete`).
    uploads: Mutex<HashMap<String, String>>,
    hostname: std::sync::OnceLock<String>,
    /// Bytes handed to the connection, by direct path.
    served: Mutex<HashMap<String, Arc<AtomicU64>>>,
}

/// The running host; stops when dropped.
pub struct MediaHost {
    addr: SocketAddr,
    store: Arc<Store>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for MediaHost {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl MediaHost {
    pub async fn start() -> std::io::Result<Self> {
        let tcp = TcpListener::bind("127.0.0.1:0").await?;
        let addr = tcp.local_addr()?;
        let listener = TlsListener::spawn(tcp, acceptor()?);
        let store = Arc::new(Store::default());
        let _ = store.hostname.set(addr.to_string());
        let app = axum::Router::new()
            .route("/mms/{kind}/{token}", axum::routing::post(upload))
            .fallback(serve_blob)
            .layer(axum::extract::DefaultBodyLimit::max(UPLOAD_MAX))
            .with_state(store.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            store,
            server,
        })
    }

    /// The `hostname` the `media_conn` answer carries (`127.0.0.1:<port>`).
    pub fn hostname(&self) -> String {
        self.addr.to_string()
    }

    /// Stores `blob` at a new direct path and returns the path.
    pub fn put(&self, blob: Blob) -> String {
        let path = format!("/v/t62.7119-24/sim-{:016x}.enc", rand::random::<u64>());
        self.store.blobs.lock().unwrap().insert(path.clone(), blob);
        path
    }

    /// The bytes stored at `direct_path` (an upload, or what a contact sent).
    pub fn blob(&self, direct_path: &str) -> Option<Bytes> {
        match self.store.blobs.lock().unwrap().get(direct_path)? {
            Blob::Bytes(bytes) => Some(bytes.clone()),
            Blob::Filler { .. } => None,
        }
    }

    /// Bytes of the blob at `direct_path` the host has sent so far.
    pub fn served(&self, direct_path: &str) -> u64 {
        self.store
            .served
            .lock()
            .unwrap()
            .get(direct_path)
            .map_or(0, |n| n.load(Ordering::SeqCst))
    }
}

#[derive(serde::Deserialize)]
struct UploadQuery {
    auth: Option<String>,
    token: Option<String>,
    #[serde(default)]
    resume: Option<String>,
}

/// An upload as WhatsApp's media hosts take it: `?auth=` from `media_conn`, and a token
/// that is the unpadded base64url SHA-256 of the encrypted body. Answers the blob's URL and
/// direct path.
async fn upload(
    State(store): State<Arc<Store>>,
    axum::extract::Path((kind, token)): axum::extract::Path<(String, String)>,
    axum::extract::Query(query): axum::extract::Query<UploadQuery>,
    body: Bytes,
) -> Response {
    use base64::Engine as _;
    use sha2::Digest as _;
    if query.auth.as_deref() != Some(MEDIA_AUTH) {
        return (StatusCode::UNAUTHORIZED, "bad media auth").into_response();
    }
    if query.token.as_deref() != Some(token.as_str()) {
        return (StatusCode::BAD_REQUEST, "token mismatch").into_response();
    }
    let hostname = store.hostname.get().cloned().unwrap_or_default();
    let answer = |direct_path: &str| {
        axum::Json(serde_json::json!({
            "url": format!("https://{hostname}{direct_path}"),
            "direct_path": direct_path,
        }))
        .into_response()
    };
    if query.resume.is_some() {
        return match store.uploads.lock().unwrap().get(&token) {
            Some(path) => axum::Json(serde_json::json!({
                "resume": "complete",
                "url": format!("https://{hostname}{path}"),
                "direct_path": path,
            }))
            .into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        };
    }
    let digest = sha2::Sha256::digest(&body);
    if base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest) != token {
        return (StatusCode::BAD_REQUEST, "token is not the body's SHA-256").into_response();
    }
    let direct_path = format!(
        "/v/t62.7118-24/sim-{kind}-{:016x}.enc",
        rand::random::<u64>()
    );
    store
        .blobs
        .lock()
        .unwrap()
        .insert(direct_path.clone(), Blob::Bytes(body));
    store
        .uploads
        .lock()
        .unwrap()
        .insert(token, direct_path.clone());
    answer(&direct_path)
}

async fn serve_blob(State(store): State<Arc<Store>>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let Some(blob) = store.blobs.lock().unwrap().get(&path).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let served = store
        .served
        .lock()
        .unwrap()
        .entry(path)
        .or_default()
        .clone();
    match blob {
        Blob::Bytes(bytes) => {
            served.fetch_add(bytes.len() as u64, Ordering::SeqCst);
            bytes.into_response()
        }
        Blob::Filler { len } => {
            const CHUNK: u64 = 64 * 1024;
            let chunks = futures::stream::unfold(0u64, move |sent| {
                let served = served.clone();
                async move {
                    if sent >= len {
                        return None;
                    }
                    let n = CHUNK.min(len - sent);
                    served.fetch_add(n, Ordering::SeqCst);
                    let chunk = Bytes::from(vec![0x5a; n as usize]);
                    Some((Ok::<_, std::io::Error>(chunk), sent + n))
                }
            });
            Body::from_stream(chunks).into_response()
        }
    }
}

/// A self-signed certificate for 127.0.0.1, made now.
fn acceptor() -> std::io::Result<TlsAcceptor> {
    let invalid = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).map_err(|e| invalid(&e))?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| invalid(&e))?
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .map_err(|e| invalid(&e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Connections whose TLS handshake is done. Each handshake runs in its own task, so a
/// client that never finishes one holds up nobody else.
struct TlsListener {
    addr: SocketAddr,
    handshaken: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    fn spawn(tcp: TcpListener, acceptor: TlsAcceptor) -> Self {
        let addr = tcp.local_addr().expect("bound");
        let (tx, handshaken) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = tcp.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(5), acceptor.accept(stream));
                    if let Ok(Ok(tls)) = handshake.await {
                        let _ = tx.send((tls, peer)).await;
                    }
                });
            }
        });
        Self { addr, handshaken }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handshaken.recv().await {
            Some(accepted) => accepted,
            // The accepting task never ends while the listener lives.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
