//! Assembles the router's HTTP app from a backend: collection routes, the per-session
//! routes, key scoping, health, metrics and the shared layers.

use std::sync::Arc;

use axum::Router;
use wagate_http::auth::{ApiKeySet, AuthState, LinkSigner, authenticate, require_all_sessions};
use wagate_http::{common_layers, limit_inflight, metrics_router};
use wagate_session::http::send_body_limit;
use wagate_session::metrics::Metrics;

use crate::backend::SessionBackend;
use crate::routes::{RouterState, collection_routes};

pub struct AppParts {
    pub backend: Arc<dyn SessionBackend>,
    pub keys: ApiKeySet,
    pub links: LinkSigner,
    pub metrics: Arc<Metrics>,
    /// Serve `/metrics` on the API port (when there is no separate metrics listener).
    pub metrics_on_api_port: bool,
    /// Sizes of media in sends (`POST /v1/messages` takes the bodies a session's send does).
    pub limits: wagate_api::MediaLimits,
    /// Requests handled at once before `503 overloaded`.
    pub max_inflight: usize,
    /// Sessions run as pods (the console shows their Kubernetes side).
    pub cluster: bool,
}

/// Ready once the backend can answer (a cluster router has listed sessions and pods).
pub fn build_app(parts: AppParts) -> Router {
    let session_routes = parts.backend.session_routes();
    let auth = Arc::new(AuthState {
        keys: parts.keys,
        console: Some(Arc::new(parts.links.console_sessions())),
        links: parts.links,
    });
    let console = crate::ui::routes(crate::ui::UiState {
        backend: parts.backend.clone(),
        auth: auth.clone(),
        cluster: parts.cluster,
    });
    let mut api = collection_routes(RouterState {
        backend: parts.backend.clone(),
        session_routes: session_routes.clone(),
        send_body_limit: send_body_limit(&parts.limits),
    })
    .merge(session_routes);
    if parts.metrics_on_api_port {
        api = api.merge(
            metrics_router({
                let metrics = parts.metrics.clone();
                move || metrics.render()
            })
            .layer(axum::middleware::from_fn(require_all_sessions)),
        );
    }
    let api = api.layer(axum::middleware::from_fn_with_state(auth, authenticate));
    let docs =
        utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", crate::routes::openapi());
    let backend = parts.backend.clone();
    let health = wagate_http::health::routes(move || {
        if backend.is_ready() {
            Ok(())
        } else {
            Err("starting")
        }
    });
    let app = health.merge(docs).merge(console).merge(api);
    limit_inflight(
        common_layers(app, parts.metrics.http_duration.clone()),
        parts.max_inflight,
    )
}
