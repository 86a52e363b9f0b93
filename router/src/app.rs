//! Assembles the router's HTTP app from a backend: collection routes, the per-session
//! routes, key scoping, health, metrics and the shared layers.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use wagate_session::http::{common_layers, metrics_router};
use wagate_session::link::LinkSigner;
use wagate_session::metrics::Metrics;

use crate::backend::SessionBackend;
use crate::keys::ApiKeySet;
use crate::routes::{RouterState, collection_routes};
use crate::tenancy::{AuthState, authenticate};

pub struct AppParts {
    pub backend: Arc<dyn SessionBackend>,
    pub keys: ApiKeySet,
    pub links: LinkSigner,
    pub metrics: Arc<Metrics>,
    /// Serve `/metrics` on the API port (when there is no separate metrics listener).
    pub metrics_on_api_port: bool,
}

/// Ready once the backend can answer (a cluster router has listed sessions and pods).
async fn readiness(
    axum::extract::State(backend): axum::extract::State<Arc<dyn SessionBackend>>,
) -> (http::StatusCode, &'static str) {
    if backend.is_ready() {
        (http::StatusCode::OK, "ready")
    } else {
        (http::StatusCode::SERVICE_UNAVAILABLE, "starting")
    }
}

pub fn build_app(parts: AppParts) -> Router {
    let session_routes = parts.backend.session_routes();
    let auth = Arc::new(AuthState {
        keys: parts.keys,
        links: parts.links,
    });
    let api = collection_routes(RouterState {
        backend: parts.backend.clone(),
        session_routes: session_routes.clone(),
    })
    .merge(session_routes)
    .layer(axum::middleware::from_fn_with_state(auth, authenticate));
    let docs =
        utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", crate::routes::openapi());
    let mut app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readiness).with_state(parts.backend.clone()))
        .merge(docs)
        .merge(api);
    if parts.metrics_on_api_port {
        app = app.merge(metrics_router(parts.metrics.clone()));
    }
    common_layers(app, parts.metrics)
}
