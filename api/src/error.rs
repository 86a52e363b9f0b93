//! The error body of the contract: `{ "error": { "code", "message", "details"? } }` with a
//! stable machine code per failure class and the HTTP status that goes with it.

use std::collections::BTreeMap;

use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Per-field validation messages, keyed by the JSON path of the field (`to`, `media.data`).
pub type FieldErrors = BTreeMap<String, String>;

/// Stable machine codes. Apps branch on these, so they never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    ValidationError,
    Unauthorized,
    Forbidden,
    SessionNotFound,
    NumberNotOnWhatsapp,
    MessageNotFound,
    /// The group does not exist or this account is not in it.
    GroupNotFound,
    /// Only a group admin may do that.
    NotGroupAdmin,
    QrNotAvailable,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    SessionNotReady,
    UpstreamUnavailable,
    /// A server-side fetch (media URL, webhook) was refused by the egress policy.
    EgressDenied,
    /// A proxied write may have been applied; retry with the same idempotency key.
    UpstreamTimeout,
    /// Too many requests in flight in this process; retry shortly.
    Overloaded,
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            Self::ValidationError | Self::EgressDenied => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::NotGroupAdmin => StatusCode::FORBIDDEN,
            Self::SessionNotFound
            | Self::NumberNotOnWhatsapp
            | Self::MessageNotFound
            | Self::GroupNotFound
            | Self::QrNotAvailable
            | Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::SessionNotReady | Self::UpstreamUnavailable | Self::Overloaded => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ValidationError => "validation_error",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::SessionNotFound => "session_not_found",
            Self::NumberNotOnWhatsapp => "number_not_on_whatsapp",
            Self::MessageNotFound => "message_not_found",
            Self::GroupNotFound => "group_not_found",
            Self::NotGroupAdmin => "not_group_admin",
            Self::QrNotAvailable => "qr_not_available",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            Self::SessionNotReady => "session_not_ready",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::EgressDenied => "egress_denied",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::Overloaded => "overloaded",
            Self::Internal => "internal",
        }
    }
}

/// What goes over the wire inside `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<FieldErrors>,
}

/// The whole error response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// An error any handler can return; it renders the contract's body and status.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<FieldErrors>,
    /// Seconds, sent as `Retry-After` (rate limits, not-ready sessions).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// A `validation_error` naming each offending field.
    pub fn validation(details: FieldErrors) -> Self {
        let message = match details.len() {
            1 => {
                let (field, why) = details.iter().next().expect("one entry");
                format!("Invalid '{field}': {why}")
            }
            n => format!("{n} fields are invalid"),
        };
        Self {
            code: ErrorCode::ValidationError,
            message,
            details: Some(details),
            retry_after: None,
        }
    }

    /// A `validation_error` for a single field.
    pub fn field(field: &str, why: impl Into<String>) -> Self {
        Self::validation(FieldErrors::from([(field.to_string(), why.into())]))
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
                details: self.details.clone(),
            },
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            ErrorCode::Unauthorized,
            "Missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn session_not_found(session_id: &str) -> Self {
        Self::new(
            ErrorCode::SessionNotFound,
            format!("Session '{session_id}' does not exist"),
        )
    }

    pub fn session_not_ready(session_id: &str, status: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorCode::SessionNotReady,
            format!("Session '{session_id}' is not connected (status: {status})"),
        )
        .with_retry_after(5)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_contract_shape() {
        let err = ApiError::field("to", "must have 10-15 digits");
        let json = serde_json::to_value(err.body()).unwrap();
        assert_eq!(json["error"]["code"], "validation_error");
        assert_eq!(json["error"]["details"]["to"], "must have 10-15 digits");
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn codes_serialize_as_their_wire_names() {
        for code in [
            ErrorCode::SessionNotReady,
            ErrorCode::NumberNotOnWhatsapp,
            ErrorCode::Internal,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }
}
