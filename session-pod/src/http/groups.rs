//! Handlers of the group routes: the `{groupJid}` is checked on the decoded path segment
//! before anything reaches WhatsApp.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use wagate_api::{
    ApiError, CreateGroupRequest, GroupChanges, GroupInfo, InviteLinkResponse, JoinGroupRequest,
    JoinGroupResponse, OkResponse, ParticipantsRequest, ParticipantsResponse, parse_group_jid,
};
use wagate_http::ApiJson;

use super::SessionHandle;

/// Creates a group with this account as its superadmin.
#[utoipa::path(post, path = "/v1/sessions/{id}/groups", tag = "groups", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), request_body = wagate_api::CreateGroupRequest, responses((status = 201, body = wagate_api::GroupInfo), super::openapi::ErrorResponses))]
pub async fn create_group(
    SessionHandle(session): SessionHandle,
    ApiJson(body): ApiJson<CreateGroupRequest>,
) -> Result<(StatusCode, Json<GroupInfo>), ApiError> {
    let (subject, participants) = body.validate()?;
    let group = session.create_group(&subject, &participants).await?;
    Ok((StatusCode::CREATED, Json(group)))
}

#[utoipa::path(get, path = "/v1/sessions/{id}/groups/{group_jid}", tag = "groups", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)"), ("group_jid" = String, Path, description = "Group JID (`...@g.us`, or its digits)")), responses((status = 200, body = wagate_api::GroupInfo), super::openapi::ErrorResponses))]
pub async fn group_info(
    SessionHandle(session): SessionHandle,
    Path((_, group)): Path<(String, String)>,
) -> Result<Json<GroupInfo>, ApiError> {
    let group = parse_group_jid(&group)?;
    Ok(Json(session.group_info(&group).await?))
}

/// Changes the subject, description or settings; answers the group as it is now.
#[utoipa::path(patch, path = "/v1/sessions/{id}/groups/{group_jid}", tag = "groups", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)"), ("group_jid" = String, Path, description = "Group JID (`...@g.us`, or its digits)")), request_body = wagate_api::GroupChanges, responses((status = 200, body = wagate_api::GroupInfo), super::openapi::ErrorResponses))]
pub async fn update_group(
    SessionHandle(session): SessionHandle,
    Path((_, group)): Path<(String, String)>,
    ApiJson(body): ApiJson<GroupChanges>,
) -> Result<Json<GroupInfo>, ApiError> {
    let group = parse_group_jid(&group)?;
    let changes = body.validate()?;
    Ok(Json(session.update_group(&group, &changes).await?))
}

/// Adds, removes, promotes or demotes members: one result per number.
#[utoipa::path(post, path = "/v1/sessions/{id}/groups/{group_jid}/participants", tag = "groups", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)"), ("group_jid" = String, Path, description = "Group JID (`...@g.us`, or its digits)")), request_body = wagate_api::ParticipantsRequest, responses((status = 200, body = wagate_api::ParticipantsResponse), super::openapi::ErrorResponses))]
pub async fn participants(
    SessionHandle(session): SessionHandle,
    Path((_, group)): Path<(String, String)>,
    ApiJson(body): ApiJson<ParticipantsRequest>,
) -> Result<Json<ParticipantsResponse>, ApiError> {
    let group = parse_group_jid(&group)?;
    let participants = body.validate()?;
    Ok(Json(
        session
            .group_participants(&group, body.action, &participants)
            .await?,
    ))
}

#[utoipa::path(get, path = "/v1/sessions/{id}/groups/{group_jid}/invite-link", tag = "groups", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)"), ("group_jid" = String, Path, description = "Group JID (`...@g.us`, or its digits)")), responses((status = 200, body = wagate_api::InviteLinkResponse), super::openapi::ErrorResponses))]
pub async fn invite_link(
    SessionHandle(session): SessionHandle,
    Path((_, group)): Path<(String, String)>,
) -> Result<Json<InviteLinkResponse>, ApiError> {
    let group = parse_group_jid(&group)?;
    Ok(Json(session.invite_link(&group, false).await?))
}

/// Revokes the invite link; answers the new one.
#[utoipa::path(delete, path = "/v1/sessions/{id}/groups/{group_jid}/invite-link", tag = "groups", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)"), ("group_jid" = String, Path, description = "Group JID (`...@g.us`, or its digits)")), responses((status = 200, body = wagate_api::InviteLinkResponse), super::openapi::ErrorResponses))]
pub async fn revoke_invite_link(
    SessionHandle(session): SessionHandle,
    Path((_, group)): Path<(String, String)>,
) -> Result<Json<InviteLinkResponse>, ApiError> {
    let group = parse_group_jid(&group)?;
    Ok(Json(session.invite_link(&group, true).await?))
}

/// Joins a group by its invite link or code.
#[utoipa::path(post, path = "/v1/sessions/{id}/groups/join", tag = "groups", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), request_body = wagate_api::JoinGroupRequest, responses((status = 200, body = wagate_api::JoinGroupResponse), super::openapi::ErrorResponses))]
pub async fn join_group(
    SessionHandle(session): SessionHandle,
    ApiJson(body): ApiJson<JoinGroupRequest>,
) -> Result<Json<JoinGroupResponse>, ApiError> {
    let code = body.validate()?;
    Ok(Json(session.join_group(&code).await?))
}

#[utoipa::path(post, path = "/v1/sessions/{id}/groups/{group_jid}/leave", tag = "groups", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)"), ("group_jid" = String, Path, description = "Group JID (`...@g.us`, or its digits)")), responses((status = 200, body = wagate_api::OkResponse), super::openapi::ErrorResponses))]
pub async fn leave_group(
    SessionHandle(session): SessionHandle,
    Path((_, group)): Path<(String, String)>,
) -> Result<Json<OkResponse>, ApiError> {
    let group = parse_group_jid(&group)?;
    session.leave_group(&group).await?;
    Ok(Json(OkResponse { ok: true }))
}
