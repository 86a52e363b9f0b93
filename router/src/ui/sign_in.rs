//! `GET/POST /ui/login` and `POST /ui/logout`. A form post from another site is refused
//! (its `Origin` or `Sec-Fetch-Site` says so), so nobody can sign a visitor in or out.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;

use super::UiState;
use super::pages::{LoginPage, render};

pub async fn login_page(State(state): State<UiState>, headers: HeaderMap) -> Response {
    if signed_in(&state, &headers) {
        return Redirect::to("/ui/sessions").into_response();
    }
    render(&LoginPage::new(None))
}

#[derive(Deserialize)]
pub struct LoginForm {
    key: String,
}

pub async fn login(
    State(state): State<UiState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site sign-in refused").into_response();
    }
    let Some(console) = &state.auth.console else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match console.sign_in(
        &state.auth.keys,
        form.key.trim(),
        over_https(&headers),
        Utc::now(),
    ) {
        Some(cookie) => {
            let mut response = Redirect::to("/ui/sessions").into_response();
            response.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_str(&cookie).expect("a cookie is a valid header value"),
            );
            response
        }
        None => {
            let mut response = render(&LoginPage::new(Some(
                "That API key is not valid for this gateway.",
            )));
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            response
        }
    }
}

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

pub async fn logout(
    State(state): State<UiState>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    let Some(console) = &state.auth.console else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let user = console.user(&state.auth.keys, &headers, Utc::now());
    let token_matches = matches!(&user, Some(Ok(u))
        if bool::from(subtle::ConstantTimeEq::ct_eq(u.csrf.as_bytes(), form.csrf.as_bytes())));
    if !same_origin(&headers) || !token_matches {
        return (
            StatusCode::FORBIDDEN,
            "sign-out refused: not from this console",
        )
            .into_response();
    }
    console.sign_out(&headers);
    let mut response = Redirect::to("/ui/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&console.sign_out_cookie()).expect("valid header value"),
    );
    response
}

fn signed_in(state: &UiState, headers: &HeaderMap) -> bool {
    state
        .auth
        .console
        .as_ref()
        .and_then(|c| c.user(&state.auth.keys, headers, Utc::now()))
        .is_some_and(|u| u.is_ok())
}

/// A form post of our own pages: browsers say where it came from.
fn same_origin(headers: &HeaderMap) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if fetch_site.is_some_and(|s| s != "same-origin" && s != "none") {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some((_, origin_host)) = origin.split_once("://") else {
        return false;
    };
    // Behind a proxy that rewrites `Host`, the browser's host is in `X-Forwarded-Host`
    // (a cross-site form cannot set either header).
    [header::HOST.as_str(), "x-forwarded-host"]
        .iter()
        .filter_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
        .any(|host| host.split(',').next().map(str::trim) == Some(origin_host))
}

/// The page came over HTTPS (directly or through a proxy that says so): the cookie is
/// then `Secure`.
fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_our_own_pages_may_post_forms() {
        assert!(same_origin(&headers(&[("host", "gw:8080")])));
        assert!(same_origin(&headers(&[
            ("host", "gw:8080"),
            ("origin", "http://gw:8080"),
            ("sec-fetch-site", "same-origin")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "gw:8080"),
            ("origin", "https://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "gw:8080"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(!same_origin(&headers(&[("origin", "http://gw:8080")])));
        assert!(same_origin(&headers(&[
            ("host", "router:8080"),
            ("x-forwarded-host", "console.example.com"),
            ("origin", "https://console.example.com")
        ])));
    }
}
