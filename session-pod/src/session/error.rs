//! What can go wrong in a session operation, in the runtime's words. The HTTP edge
//! (`crate::http::error`) turns each into the contract's status, code and `Retry-After`.

use std::path::PathBuf;

use wagate_api::SessionState;

use crate::engine::EngineError;
use crate::store::StoreError;

/// Why a session operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The operation needs a connected session.
    #[error("Session '{session}' is not connected (status: {state})")]
    NotConnected {
        session: String,
        state: SessionState,
    },
    /// The operation does not fit the session's state (stopped, not linked, already
    /// connected or linked).
    #[error("{0}")]
    WrongState(String),
    #[error("{0} is not on WhatsApp")]
    NotOnWhatsApp(String),
    #[error("Not supported by this engine: {0}")]
    Unsupported(&'static str),
    /// WhatsApp (or the way to it) failed; worth a retry later.
    #[error("{0}")]
    Upstream(String),
    #[error("Session '{session}' reached its cap of {cap} new conversations per 24 h")]
    NewChatCapReached { session: String, cap: u32 },
    #[error("No message '{message}' in session '{session}'")]
    MessageNotFound { session: String, message: String },
    #[error("No stored media for message '{0}'")]
    MediaNotFound(String),
    /// A value the caller gave that the session refuses (`field` names it).
    #[error("{field}: {why}")]
    Invalid { field: &'static str, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("The session stopped but its folder could not be removed")]
    FolderNotRemoved,
    #[error("No group '{0}' this session's account is in")]
    GroupNotFound(String),
    #[error("This session's account is not an admin of group '{0}'")]
    NotGroupAdmin(String),
    #[error("The invite link is invalid or was reset")]
    InviteInvalid,
    #[error("No phone number is known for {0}")]
    LidUnknown(String),
    #[error("WhatsApp asks to slow down; try again in a minute")]
    RateLimited,
}

impl SessionError {
    /// An engine failure of session `session` (now in `state`), in the runtime's words.
    pub(crate) fn from_engine(e: EngineError, session: &str, state: SessionState) -> Self {
        match e {
            EngineError::NotConnected => Self::NotConnected {
                session: session.to_string(),
                state,
            },
            EngineError::NotOnWhatsApp(number) => Self::NotOnWhatsApp(number),
            EngineError::AlreadyLinked => {
                Self::WrongState(format!("Session '{session}' is already linked"))
            }
            EngineError::Unsupported(what) => Self::Unsupported(what),
            EngineError::Conflict(why) => Self::WrongState(why),
            EngineError::RateLimited => Self::RateLimited,
            EngineError::GroupNotFound(group) => Self::GroupNotFound(group),
            EngineError::NotGroupAdmin(group) => Self::NotGroupAdmin(group),
            EngineError::InviteInvalid => Self::InviteInvalid,
            other => Self::Upstream(other.to_string()),
        }
    }
}

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create session folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("engine did not start: {0}")]
    Engine(#[from] EngineError),
}
