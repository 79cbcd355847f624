//! Who is calling, and the credentials people and scripts manage: `me`, `access`, API
//! tokens, sessions, passwords, calendar feed secrets. Merged into the schema roots.

use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, Object, Result};

use super::error::{api_error, bad_input, code, coded};
use super::scalars::DateTime;
use super::types::{ActorObject, Role, ScheduleObject, UserObject, principal, store};
use crate::auth::{Gate, TOKEN_PREFIX, digest, random_secret};
use crate::domain::{self, ApiToken, Credential, DomainError, Session};

/// A script's credential. Its secret is never shown again after `createApiToken`.
pub struct ApiTokenObject(pub Arc<ApiToken>);

#[Object(name = "ApiToken")]
impl ApiTokenObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
    /// When it stops working; null: never.
    async fn expires_at(&self) -> Option<DateTime> {
        self.0.expires_at.map(DateTime)
    }
    /// When it was last presented (to the minute).
    async fn last_used_at(&self) -> Option<DateTime> {
        self.0.last_used_at.map(DateTime)
    }
    async fn revoked_at(&self) -> Option<DateTime> {
        self.0.revoked_at.map(DateTime)
    }
    /// Who made it.
    async fn created_by(&self) -> ActorObject {
        ActorObject(self.0.created_by.clone())
    }
}

/// A freshly made token: `token` is the secret, shown this once.
pub struct NewApiToken {
    token: String,
    api_token: Arc<ApiToken>,
}

#[Object(name = "NewApiToken")]
impl NewApiToken {
    /// The secret: send it as `Authorization: Bearer <token>`. Shown only now.
    async fn token(&self) -> &str {
        &self.token
    }
    async fn api_token(&self) -> ApiTokenObject {
        ApiTokenObject(self.api_token.clone())
    }
}

/// One of a person's login sessions.
pub struct SessionObject {
    session: Arc<Session>,
    current: bool,
}

#[Object(name = "Session")]
impl SessionObject {
    async fn id(&self) -> ID {
        ID(self.session.id.to_string())
    }
    /// When they logged in.
    async fn created_at(&self) -> DateTime {
        DateTime(self.session.created_at)
    }
    /// When it was last used (to the minute).
    async fn last_seen_at(&self) -> DateTime {
        DateTime(self.session.last_seen_at)
    }
    /// When it ends unless used again (idle limit), or at the latest (absolute limit).
    async fn expires_at(&self) -> DateTime {
        DateTime(self.session.ends_at())
    }
    /// The browser it was made from.
    async fn user_agent(&self) -> Option<&str> {
        self.session.user_agent.as_deref()
    }
    /// Whether this is the session making the request.
    async fn current(&self) -> bool {
        self.current
    }
}

/// Who is calling and what they may do.
pub struct Access(domain::Principal);

#[Object]
impl Access {
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    async fn actor(&self) -> ActorObject {
        ActorObject(self.0.actor.clone())
    }
}

/// A new API token.
#[derive(InputObject)]
pub struct CreateApiTokenInput {
    /// What it is for, 1 to 200 characters.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it stops working; omit for never.
    pub expires_at: Option<DateTime>,
}

/// Access queries.
#[derive(Default)]
pub struct AccessQuery;

#[Object]
impl AccessQuery {
    /// The person behind the session; null for an API token.
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<UserObject>> {
        let by = principal(ctx)?;
        Ok(by
            .user_id()
            .and_then(|id| store(ctx).state().user(id))
            .map(UserObject))
    }

    /// The caller's role and actor.
    async fn access(&self, ctx: &Context<'_>) -> Result<Access> {
        Ok(Access(principal(ctx)?.clone()))
    }

    /// Every API token, newest first (ADMIN only). Secrets are never shown.
    async fn api_tokens(&self, ctx: &Context<'_>) -> Result<Vec<ApiTokenObject>> {
        let by = principal(ctx)?;
        Ok(store(ctx)
            .api_tokens(by)
            .map_err(api_error)?
            .into_iter()
            .map(ApiTokenObject)
            .collect())
    }

    /// The caller's own live sessions, newest first (empty for a token).
    async fn sessions(&self, ctx: &Context<'_>) -> Result<Vec<SessionObject>> {
        let by = principal(ctx)?;
        Ok(store(ctx)
            .sessions(by)
            .into_iter()
            .map(|session| SessionObject {
                current: by.credential == Credential::Session(session.id),
                session,
            })
            .collect())
    }
}

/// Access mutations.
#[derive(Default)]
pub struct AccessMutation;

#[Object]
impl AccessMutation {
    /// Makes an API token (ADMIN only). The secret is in the answer, and only there.
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        input: CreateApiTokenInput,
    ) -> Result<NewApiToken> {
        let by = principal(ctx)?;
        let token = random_secret(TOKEN_PREFIX);
        let api_token = store(ctx)
            .create_api_token(
                by,
                &input.name,
                input.role.into(),
                input.expires_at.map(|e| e.0),
                digest(&token),
            )
            .await
            .map_err(api_error)?;
        Ok(NewApiToken { token, api_token })
    }

    /// Revokes a token at once (ADMIN only): its open WebSockets close. Idempotent.
    async fn revoke_api_token(&self, ctx: &Context<'_>, id: ID) -> Result<ApiTokenObject> {
        store(ctx)
            .revoke_api_token(principal(ctx)?, &id)
            .await
            .map(ApiTokenObject)
            .map_err(api_error)
    }

    /// Gives a schedule's calendar feed a new secret; the old URL stops working (ADMIN).
    async fn rotate_calendar_url(
        &self,
        ctx: &Context<'_>,
        schedule_id: ID,
    ) -> Result<ScheduleObject> {
        store(ctx)
            .rotate_calendar_key(principal(ctx)?, &schedule_id)
            .await
            .map(ScheduleObject)
            .map_err(api_error)
    }

    /// Ends one of your sessions (an admin may end anyone's).
    async fn end_session(&self, ctx: &Context<'_>, id: ID) -> Result<SessionObject> {
        let session = store(ctx)
            .end_session(principal(ctx)?, &id)
            .await
            .map_err(api_error)?;
        Ok(SessionObject {
            session,
            current: false,
        })
    }

    /// Ends every session of yours except this one; returns how many ended.
    async fn end_other_sessions(&self, ctx: &Context<'_>) -> Result<i32> {
        let ended = store(ctx)
            .end_other_sessions(principal(ctx)?)
            .await
            .map_err(api_error)?;
        Ok(i32::try_from(ended).unwrap_or(i32::MAX))
    }

    /// Changes your own password (at least 12 characters); your other sessions end.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> Result<bool> {
        let by = principal(ctx)?;
        let Some(user) = by.user_id().and_then(|id| store(ctx).state().user(id)) else {
            return Err(api_error(DomainError::InvalidState(
                "only a person who logged in has a password to change; this is an API token".into(),
            )));
        };
        let gate = ctx.data::<Gate>()?;
        if !gate
            .passwords()
            .verify(&current_password, user.password.as_ref())
            .await
        {
            return Err(bad_input(
                "currentPassword",
                "that is not your current password",
            ));
        }
        let hash = super::mutation::new_password(ctx, "newPassword", Some(&new_password))
            .await?
            .ok_or_else(|| coded(code::INTERNAL, "no password hash was made"))?;
        store(ctx)
            .change_own_password(by, hash)
            .await
            .map_err(api_error)?;
        Ok(true)
    }
}
