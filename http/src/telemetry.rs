//! Log setup and serving shared by the binaries: `RUST_LOG` filters, JSON with
//! `WAGATE_LOG_FORMAT=json`, the same in every binary.

use tracing_subscriber::EnvFilter;

/// Error values go without backtraces unless `RUST_LIB_BACKTRACE` asks for them; panics
/// keep theirs (`RUST_BACKTRACE`). whatsapp-rust's errors are `anyhow` errors, which capture
/// a backtrace whenever `RUST_BACKTRACE` is set, and it logs them with `{:?}`, which
/// resolves it: every failed media download or dropped socket then cost milliseconds and
/// tens of MiB of debug info in memory (the inbound-media test saw +46 MiB in a debug build).
///
/// # Safety
/// It sets an environment variable: call it first in `main`, before any other thread
/// exists (so before the tokio runtime starts), as `std::env::set_var` requires.
pub unsafe fn errors_without_backtraces() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: the caller guarantees no other thread exists yet.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
}

/// Logs to stderr filtered by `RUST_LOG`, else by `default_filter`; JSON when
/// `WAGATE_LOG_FORMAT=json` (what a cluster's log pipeline wants), text otherwise.
pub fn init_tracing(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let json = std::env::var("WAGATE_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// How long open connections (SSE streams) get to finish after SIGTERM.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Serves `app` until SIGTERM/Ctrl-C, then stops taking requests and gives open
/// connections a short while to finish; the caller then stops its sessions.
pub async fn serve_until_signal(
    listener: tokio::net::TcpListener,
    app: axum::Router,
) -> std::io::Result<()> {
    let stop = tokio_util::sync::CancellationToken::new();
    let server = axum::serve(listener, app).with_graceful_shutdown(stop.clone().cancelled_owned());
    let mut server = std::pin::pin!(server.into_future());
    tokio::select! {
        result = &mut server => result,
        _ = shutdown_signal() => {
            tracing::info!("shutting down: no new requests, finishing in-flight sends");
            stop.cancel();
            if tokio::time::timeout(DRAIN_TIMEOUT, &mut server).await.is_err() {
                tracing::info!("closing connections still open (event streams)");
            }
            Ok(())
        }
    }
}
