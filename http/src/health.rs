//! `/healthz` (the process answers) and `/readyz` (it should get traffic), alike in every
//! binary. Liveness never depends on anything but the process; readiness asks the binary.

use axum::Router;
use axum::routing::get;
use http::StatusCode;

/// Whether the binary is ready for traffic; `Err` says why not, in one word (`starting`,
/// `syncing`, `stopped`).
pub type ReadinessCheck = dyn Fn() -> Result<(), &'static str> + Send + Sync;

/// The probe routes: `/healthz` always `200 ok`; `/readyz` `200 ready` or `503` with the
/// reason `ready` gives.
pub fn routes<S>(
    ready: impl Fn() -> Result<(), &'static str> + Clone + Send + Sync + 'static,
) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let answer = match ready() {
                    Ok(()) => (StatusCode::OK, "ready"),
                    Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
                };
                async move { answer }
            }),
        )
}

/// Paths that are probes, not API calls (no key, no in-flight limit).
pub fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use axum::body::Body;
    use http::Request;
    use tower::ServiceExt as _;

    use super::routes;

    async fn probe(app: &axum::Router, path: &str) -> (StatusCode, String) {
        let response = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    use http::StatusCode;

    #[tokio::test]
    async fn ready_follows_the_check_and_healthy_does_not() {
        let synced = Arc::new(AtomicBool::new(false));
        let flag = synced.clone();
        let app: axum::Router = routes(move || {
            if flag.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err("syncing")
            }
        });
        assert_eq!(probe(&app, "/healthz").await, (StatusCode::OK, "ok".into()));
        assert_eq!(
            probe(&app, "/readyz").await,
            (StatusCode::SERVICE_UNAVAILABLE, "syncing".into())
        );
        synced.store(true, Ordering::SeqCst);
        assert_eq!(
            probe(&app, "/readyz").await,
            (StatusCode::OK, "ready".into())
        );
    }
}
