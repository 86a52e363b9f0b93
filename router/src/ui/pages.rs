//! The console's pages. Each is rendered on the server from what the key may see, so the
//! first paint needs no script; `app.js` then keeps it live through `/v1/events`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;
use wagate_api::{SessionInfo, SessionState};
use wagate_http::auth::ConsoleUser;

use super::UiState;
use super::assets::VERSION;

/// What every signed-in page shows around its content.
pub struct Chrome {
    pub user: String,
    pub read_only: bool,
    pub csrf: String,
    pub version: &'static str,
}

impl Chrome {
    fn of(user: &ConsoleUser) -> Self {
        Self {
            user: user.caller.name.to_string(),
            read_only: user.caller.read_only,
            csrf: user.csrf.clone(),
            version: VERSION.as_str(),
        }
    }
}

#[derive(Template)]
#[template(path = "ui/login.html")]
pub struct LoginPage {
    error: Option<&'static str>,
    version: &'static str,
}

impl LoginPage {
    pub fn new(error: Option<&'static str>) -> Self {
        Self {
            error,
            version: VERSION.as_str(),
        }
    }
}

/// One row of the sessions table.
pub struct SessionRow {
    id: String,
    status: &'static str,
    phone: String,
    push_name: String,
    last_error: String,
    outbox: String,
    labels: Vec<(String, String)>,
    /// What the search box matches, lower-cased.
    search: String,
}

impl SessionRow {
    fn of(info: SessionInfo) -> Self {
        let labels: Vec<_> = info.labels.into_iter().collect();
        let phone = info.phone.unwrap_or_default();
        let push_name = info.push_name.unwrap_or_default();
        let search = std::iter::once(info.session_id.clone())
            .chain([phone.clone(), push_name.clone()])
            .chain(labels.iter().map(|(k, v)| format!("{k}={v}")))
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        Self {
            status: info.status.as_str(),
            last_error: info.last_error.unwrap_or_default(),
            outbox: info
                .outbox_depth
                .map(|d| d.to_string())
                .unwrap_or_else(|| "—".into()),
            id: info.session_id,
            phone,
            push_name,
            labels,
            search,
        }
    }
}

#[derive(Template)]
#[template(path = "ui/sessions.html")]
pub struct SessionsPage {
    chrome: Chrome,
    rows: Vec<SessionRow>,
    total: usize,
    q: String,
    status: String,
    states: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "ui/session.html")]
pub struct SessionPage {
    chrome: Chrome,
    row: SessionRow,
    created_at: String,
    last_connected: String,
    webhook_url: String,
    webhook_events: String,
    webhook_has_secret: bool,
    settings: wagate_api::SessionSettings,
    can_link: bool,
    cluster: bool,
}

#[derive(Template)]
#[template(path = "ui/not_found.html")]
pub struct NotFoundPage {
    chrome: Chrome,
    id: String,
}

pub fn render<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot render a console page");
            (StatusCode::INTERNAL_SERVER_ERROR, "console page failed").into_response()
        }
    }
}

/// The signed-in user, if any (else the page sends the browser to [`to_sign_in`]).
fn signed_in(state: &UiState, headers: &HeaderMap) -> Option<ConsoleUser> {
    state
        .auth
        .console
        .as_ref()
        .and_then(|c| c.user(&state.auth.keys, headers, Utc::now()))
        .and_then(Result::ok)
}

fn to_sign_in() -> Response {
    Redirect::to("/ui/login").into_response()
}

/// `429` when the user's key is over its rate (pages count as its requests).
fn over_rate(user: &ConsoleUser) -> Option<Response> {
    user.caller.check_rate().err().map(|wait| {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [(http::header::RETRY_AFTER, wait.as_secs().max(1).to_string())],
            "Too many requests for this key; try again shortly.",
        )
            .into_response()
    })
}

pub async fn home(State(state): State<UiState>, headers: HeaderMap) -> Response {
    match signed_in(&state, &headers) {
        Some(_) => Redirect::to("/ui/sessions").into_response(),
        None => to_sign_in(),
    }
}

#[derive(Deserialize)]
pub struct SessionsQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
}

pub async fn sessions(
    State(state): State<UiState>,
    headers: HeaderMap,
    Query(query): Query<SessionsQuery>,
) -> Response {
    let Some(user) = signed_in(&state, &headers) else {
        return to_sign_in();
    };
    if let Some(limited) = over_rate(&user) {
        return limited;
    }
    let mut visible: Vec<SessionInfo> = state
        .backend
        .list()
        .await
        .into_iter()
        .filter(|s| user.caller.may_access(&s.session_id))
        .collect();
    visible.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    let total = visible.len();
    let needle = query.q.trim().to_lowercase();
    let rows = visible
        .into_iter()
        .filter(|s| query.status.is_empty() || s.status.as_str() == query.status)
        .map(SessionRow::of)
        .filter(|row| needle.is_empty() || row.search.contains(&needle))
        .collect();
    render(&SessionsPage {
        chrome: Chrome::of(&user),
        rows,
        total,
        q: query.q,
        status: query.status,
        states: SessionState::ALL.iter().map(|s| s.as_str()).collect(),
    })
}

pub async fn session(
    State(state): State<UiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(user) = signed_in(&state, &headers) else {
        return to_sign_in();
    };
    if let Some(limited) = over_rate(&user) {
        return limited;
    }
    // A session the key may not see looks exactly like one that does not exist.
    let info = if user.caller.may_access(&id) {
        state.backend.session_info(&id).await
    } else {
        None
    };
    let Some(info) = info else {
        let mut response = render(&NotFoundPage {
            chrome: Chrome::of(&user),
            id,
        });
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    };
    let writable = !user.caller.read_only;
    let time = |t: Option<chrono::DateTime<Utc>>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| "—".into())
    };
    let webhook = info.webhook.clone();
    render(&SessionPage {
        chrome: Chrome::of(&user),
        created_at: time(Some(info.created_at)),
        last_connected: time(info.last_connected),
        webhook_url: webhook.as_ref().map(|w| w.url.clone()).unwrap_or_default(),
        webhook_events: webhook
            .as_ref()
            .map(|w| {
                w.events
                    .iter()
                    .map(|e| e.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
        webhook_has_secret: webhook.is_some_and(|w| w.has_secret),
        settings: info.settings.clone(),
        can_link: writable && info.status != SessionState::Connected,
        cluster: state.cluster,
        row: SessionRow::of(info),
    })
}
