//! Layers every API router shares: request ids, latency metrics, tracing, JSON fallbacks.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use wagate_api::{ApiError, ErrorCode};

use super::api_fallback;
use crate::metrics::Metrics;

async fn record_latency(
    State(metrics): State<Arc<Metrics>>,
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
    metrics
        .http_duration
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

/// Wraps an API router: JSON 404/405, latency metrics, `x-request-id` on every response.
pub fn common_layers(router: Router, metrics: Arc<Metrics>) -> Router {
    let request_id = http::HeaderName::from_static("x-request-id");
    router
        .fallback(api_fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn_with_state(metrics, record_latency))
        // Failures are logged where they happen, with context; a 503 for a session still
        // scanning its QR is not a server error.
        .layer(tower_http::trace::TraceLayer::new_for_http().on_failure(()))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// `GET /metrics` in the Prometheus text format.
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    metrics.render(),
                )
            }
        }),
    )
}
