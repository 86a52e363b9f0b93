//! The contract's answer for each way a session operation fails: status, code and
//! `Retry-After` live here, at the HTTP edge, not in the runtime.

use wagate_api::{ApiError, ErrorCode};

use crate::session::SessionError;

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        let message = e.to_string();
        match e {
            SessionError::NotConnected { session, state } => {
                ApiError::session_not_ready(&session, state)
            }
            SessionError::WrongState(_) | SessionError::Unsupported(_) => {
                ApiError::new(ErrorCode::Conflict, message)
            }
            SessionError::NotOnWhatsApp(_) => {
                ApiError::new(ErrorCode::NumberNotOnWhatsapp, message)
            }
            SessionError::Upstream(_) => {
                ApiError::new(ErrorCode::UpstreamUnavailable, message).with_retry_after(5)
            }
            SessionError::NewChatCapReached { .. } => {
                ApiError::new(ErrorCode::RateLimited, message).with_retry_after(3600)
            }
            SessionError::MessageNotFound { .. } | SessionError::MediaNotFound(_) => {
                ApiError::new(ErrorCode::MessageNotFound, message)
            }
            SessionError::Invalid { field, why } => ApiError::field(field, why),
            SessionError::Store(e) => {
                tracing::error!(error = %e, "gateway store failure");
                ApiError::internal("The session's store failed; the request was not applied")
            }
            SessionError::FolderNotRemoved => ApiError::internal(message),
            SessionError::GroupNotFound(_) | SessionError::InviteInvalid => {
                ApiError::new(ErrorCode::GroupNotFound, message)
            }
            SessionError::NotGroupAdmin(_) => ApiError::new(ErrorCode::NotGroupAdmin, message),
            SessionError::LidUnknown(_) => ApiError::new(ErrorCode::NotFound, message),
            SessionError::RateLimited => {
                ApiError::new(ErrorCode::RateLimited, message).with_retry_after(60)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use wagate_api::SessionState;

    use super::*;

    #[test]
    fn each_failure_gets_its_contract_answer() {
        let cases = [
            (
                SessionError::NotConnected {
                    session: "s".into(),
                    state: SessionState::Qr,
                },
                ErrorCode::SessionNotReady,
                Some(5),
            ),
            (
                SessionError::WrongState("Session is stopped".into()),
                ErrorCode::Conflict,
                None,
            ),
            (
                SessionError::Upstream("socket closed".into()),
                ErrorCode::UpstreamUnavailable,
                Some(5),
            ),
            (
                SessionError::NewChatCapReached {
                    session: "s".into(),
                    cap: 10,
                },
                ErrorCode::RateLimited,
                Some(3600),
            ),
            (
                SessionError::MediaNotFound("m".into()),
                ErrorCode::MessageNotFound,
                None,
            ),
            (
                SessionError::Invalid {
                    field: "phone",
                    why: "must be digits".into(),
                },
                ErrorCode::ValidationError,
                None,
            ),
        ];
        for (error, code, retry_after) in cases {
            let api = ApiError::from(error);
            assert_eq!((api.code, api.retry_after), (code, retry_after), "{api:?}");
        }
    }
}
