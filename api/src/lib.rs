//! wagate's shared contract: the JSON types of the REST API, the stable error codes and the
//! validation rules every crate applies at its edge. Nothing here does I/O, so the router,
//! the session pod and the operator all agree on one definition.

pub mod actions;
pub mod contact_card;
pub mod contacts;
#[cfg(feature = "crd")]
pub mod crd;
pub mod error;
pub mod events;
pub mod groups;
pub mod history;
pub mod host;
pub mod id;
pub mod location;
pub mod message;
pub mod numbers;
pub mod poll;
pub mod profile;
pub mod rbac;
pub mod recipient;
pub mod session;

pub use actions::{
    ChatPresenceRequest, ChatState, EDIT_WINDOW_SECS, EditRequest, MessageRef, PresenceRequest,
    ReactionRequest, ReadRequest, ReadResult,
};
pub use contact_card::{ContactPhone, ContactSpec, SharedContact};
pub use contacts::{ContactInfo, LidInfo, parse_contact, parse_lid};
pub use error::{ApiError, ErrorBody, ErrorCode, ErrorDetail, FieldErrors};
pub use events::{
    CallReceivedData, ChatPresenceData, EditedData, EventKind, GatewayEvent, InboundMedia,
    InboundMessageData, MessageKind, QuotedMessage, ReactionData, RevokedData, SessionStatusData,
};
pub use groups::{
    CreateGroupRequest, GroupChanges, GroupFacts, GroupInfo, GroupParticipant,
    GroupParticipantsData, GroupRole, GroupSettings, GroupUpdatedData, GroupsResponse,
    InviteLinkResponse, JoinGroupRequest, JoinGroupResponse, ParticipantAction, ParticipantResult,
    ParticipantsRequest, ParticipantsResponse, parse_group_jid,
};
pub use history::{
    HourStats, MESSAGE_PAGE_DEFAULT, MESSAGE_PAGE_MAX, MessagePage, MessageSummary, PageCursor,
    SessionStats,
};
pub use host::{HostBackend, HostCondition, HostEvent, SessionHost};
pub use id::{SessionId, validate_session_id};
pub use location::LocationSpec;
pub use message::{
    MediaLimits, MediaSource, MediaSpec, MediaType, MessageBody, MessageStatus, SendRequest,
    SendResult, ValidatedSend,
};
pub use numbers::{
    CheckNumbersRequest, CheckNumbersResponse, NumberCheck, PairCodeRequest, PairCodeResponse,
    QrJson, QrLinkResponse,
};
pub use poll::{PollOptionVotes, PollSpec, PollVoteData};
pub use profile::{BlockedContact, Blocklist, PictureUpload, Profile, ProfileUpdate};
pub use recipient::{Recipient, normalize_phone};
pub use session::{
    CreateSessionRequest, DeleteResponse, OkResponse, SessionInfo, SessionList, SessionSettings,
    SessionState, WebhookConfig, WebhookSettings,
};
