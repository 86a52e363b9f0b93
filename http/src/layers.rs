//! Layers every API router shares: request ids, latency metrics, tracing, JSON fallbacks,
//! path hygiene and the in-flight cap.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus::HistogramVec;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use wagate_api::{ApiError, ErrorCode};

use crate::extract::api_fallback;

async fn record_latency(
    State(http_duration): State<HistogramVec>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    http_duration
        .with_label_values(&[&method, &route, response.status().as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}

async fn method_not_allowed(method: http::Method, uri: http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// Wraps an API router: JSON 404/405, latency by method, route and status into
/// `http_duration`, `x-request-id` on every response.
pub fn common_layers(router: Router, http_duration: HistogramVec) -> Router {
    let request_id = http::HeaderName::from_static("x-request-id");
    router
        .fallback(api_fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn_with_state(
            http_duration,
            record_latency,
        ))
        .layer(middleware::from_fn(refuse_ambiguous_paths))
        // Failures are logged where they happen, with context; a 503 for a session still
        // scanning its QR is not a server error.
        .layer(tower_http::trace::TraceLayer::new_for_http().on_failure(()))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// Refuses paths that a proxy or URL parser would rewrite: `.` and `..` segments (also
/// percent-encoded) and encoded slashes. Nothing in the contract has them, and behind a
/// proxy `PUT /v1/sessions/a/x/../webhook` would otherwise reach another route.
pub fn check_path(path: &str) -> Result<(), ApiError> {
    for segment in path.split('/') {
        let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
        if decoded == "." || decoded == ".." || decoded.contains('/') || decoded.contains('\\') {
            return Err(ApiError::field(
                "path",
                "may not contain '.' or '..' segments or encoded slashes",
            ));
        }
    }
    Ok(())
}

async fn refuse_ambiguous_paths(request: Request, next: Next) -> Response {
    match check_path(request.uri().path()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// Answers `503 overloaded` once `max` requests are being handled, so a flood queues in
/// nobody's memory. Health and metrics stay reachable (a liveness probe that failed under
/// load would restart a busy pod). A streaming response frees its place once its headers
/// are out.
pub fn limit_inflight(router: Router, max: usize) -> Router {
    let places = Arc::new(tokio::sync::Semaphore::new(max.max(1)));
    router.layer(middleware::from_fn_with_state(places, admit))
}

async fn admit(
    State(places): State<Arc<tokio::sync::Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if crate::health::is_probe(path) || path == "/metrics" {
        return next.run(request).await;
    }
    match places.try_acquire() {
        Ok(_place) => next.run(request).await,
        Err(_) => ApiError::new(
            ErrorCode::Overloaded,
            "Too many requests in flight; retry shortly",
        )
        .with_retry_after(1)
        .into_response(),
    }
}

/// `GET /metrics` in the Prometheus text format, as `render` writes it at each scrape.
pub fn metrics_router(render: impl Fn() -> String + Clone + Send + Sync + 'static) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let text = render();
            async move {
                (
                    [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    text,
                )
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::check_path;

    #[test]
    fn dot_segments_and_encoded_slashes_are_refused() {
        for bad in [
            "/v1/sessions/a/x/../webhook",
            "/v1/sessions/a/x/%2e%2E/webhook",
            "/v1/sessions/a/./qr",
            "/v1/sessions/a%2Fb/qr",
            "/v1/sessions/a/%2e",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
        assert!(check_path("/v1/sessions/a.b-c/messages/3EB0").is_ok());
    }
}
