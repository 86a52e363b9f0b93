//! Extractors that turn every malformed request into the contract's error body.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use wagate_api::{ApiError, ErrorCode, validate_session_id};

/// `Json<T>` whose rejections are contract errors (`400`/`413`/`415`).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "Send the body as JSON with 'Content-Type: application/json'",
        ),
        JsonRejection::BytesRejection(e) if e.status() == http::StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                "The request body is larger than this gateway accepts",
            )
        }
        JsonRejection::JsonDataError(e) => {
            // serde's message names the field and what was expected.
            let detail = e.body_text();
            let detail = detail
                .strip_prefix("Failed to deserialize the JSON body into the target type: ")
                .unwrap_or(&detail);
            ApiError::field("body", detail.to_string())
        }
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::field("body", format!("is not valid JSON: {}", e.body_text()))
        }
        other => ApiError::field("body", other.body_text()),
    }
}

/// `Query<T>` whose rejections are contract errors (`400` naming the parameter).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => {
                // serde's message names the parameter and what was expected.
                let detail = rejection.body_text();
                let detail = detail
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&detail);
                Err(ApiError::field("query", detail.to_string()))
            }
        }
    }
}

/// The `{id}` path segment, validated (`400` when malformed), for every route under
/// `/v1/sessions/{id}` whoever owns the session.
pub async fn path_session_id<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<String, ApiError> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|_| ApiError::field("sessionId", "missing from the path"))?;
    let id = params
        .iter()
        .find(|(k, _)| *k == "id")
        .map(|(_, v)| v.to_string())
        .unwrap_or_default();
    validate_session_id(&id)?;
    Ok(id)
}

/// Unknown paths and methods answer in the contract's shape too.
pub async fn api_fallback(method: http::Method, uri: http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("No route for {method} {}", uri.path()),
    )
}

/// Like [`ApiJson`], but an empty body means `T::default()` (for all-optional bodies).
pub struct JsonOrDefault<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for JsonOrDefault<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    "The request body is larger than this gateway accepts",
                )
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|e| ApiError::field("body", e.to_string()))
    }
}
