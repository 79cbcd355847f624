//! Credentials as state: API tokens and login sessions, journaled like every other change
//! (only digests of their secrets), and the revocation feed that ends live WebSockets the
//! moment a credential stops being valid.

use std::sync::Arc;

use super::{CommandError, Store};
use crate::domain::{
    Action, ApiToken, ApiTokenId, Credential, DomainError, Event, Principal, Role, SecretDigest,
    Session, SessionId, Timestamp, User, UserId,
};

/// A credential that just stopped working: live connections using it close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoked {
    /// One session ended.
    Session(SessionId),
    /// One token was revoked.
    ApiToken(ApiTokenId),
    /// Everything of one user: their role or password changed, or they were deleted.
    /// Connections reconnect and authenticate again with what is true now.
    User(UserId),
}

impl Revoked {
    /// Whether a connection authenticated as `principal` must close.
    pub fn ends(&self, principal: &Principal) -> bool {
        match (self, principal.credential) {
            (Revoked::Session(a), Credential::Session(b)) => *a == b,
            (Revoked::ApiToken(a), Credential::ApiToken(b)) => *a == b,
            (Revoked::User(user), _) => principal.user_id() == Some(*user),
            _ => false,
        }
    }
}

/// Longest user agent kept with a session.
const MAX_USER_AGENT_CHARS: usize = 200;

impl Store {
    /// A live user by email, compared case-insensitively.
    pub fn user_by_email(&self, email: &str) -> Option<Arc<User>> {
        let wanted = email.trim().to_lowercase();
        self.state()
            .users
            .iter()
            .find(|u| u.deleted_at.is_none() && u.email.to_lowercase() == wanted)
            .map(|u| u.clone())
    }

    /// Live connections' feed of credentials that stopped working.
    pub fn revocations(&self) -> tokio::sync::broadcast::Receiver<Revoked> {
        self.shared.revocations.subscribe()
    }

    pub(super) fn revoke(&self, revoked: Revoked) {
        let _ = self.shared.revocations.send(revoked);
    }

    /// Records that a token was used, in the background (at most one write in flight per
    /// token; the caller already limits it to once a minute).
    pub fn note_token_use(&self, id: ApiTokenId, at: Timestamp) {
        if self.shared.touching.insert(id.0, ()).is_some() {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            if let Err(e) = store.commit(Event::ApiTokenUsed { id, at }).await {
                tracing::warn!(error = %e, token = %id, "could not record a token's use");
            }
            store.shared.touching.remove(&id.0);
        });
    }

    /// Records that a session was used, in the background (see [`Store::note_token_use`]).
    pub fn note_session_use(&self, id: SessionId, at: Timestamp) {
        if self.shared.touching.insert(id.0, ()).is_some() {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            if let Err(e) = store.commit(Event::SessionSeen { id, at }).await {
                tracing::warn!(error = %e, session = %id, "could not record a session's use");
            }
            store.shared.touching.remove(&id.0);
        });
    }

    /// Starts a login session for a live user; `digest` is the cookie secret's.
    pub async fn start_session(
        &self,
        user: UserId,
        digest: SecretDigest,
        idle: chrono::Duration,
        lifetime: chrono::Duration,
        user_agent: Option<&str>,
    ) -> Result<Arc<Session>, CommandError> {
        if self.state().user(user).is_none() {
            return Err(DomainError::not_found("user", user).into());
        }
        let now = self.clock().now();
        let session = Session {
            id: SessionId::new(),
            user_id: user,
            digest,
            created_at: now,
            last_seen_at: now,
            expires_at: now + lifetime,
            idle_timeout_ms: idle.num_milliseconds(),
            user_agent: user_agent
                .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect::<String>())
                .filter(|ua| !ua.trim().is_empty()),
        };
        self.commit(Event::SessionStarted {
            session: session.clone(),
        })
        .await?;
        Ok(Arc::new(session))
    }

    /// The caller's own live sessions, newest first (none for a token).
    pub fn sessions(&self, by: &Principal) -> Vec<Arc<Session>> {
        let now = self.clock().now();
        by.user_id()
            .map(|user| self.state().sessions_of(user))
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s.is_valid_at(now))
            .collect()
    }

    /// Ends one session: one's own, or anyone's for an admin.
    pub async fn end_session(
        &self,
        by: &Principal,
        id: &str,
    ) -> Result<Arc<Session>, CommandError> {
        let id: SessionId = id.parse()?;
        let session = self
            .state()
            .sessions
            .get(&id)
            .map(|s| s.clone())
            .ok_or_else(|| DomainError::not_found("session", id))?;
        if by.user_id() != Some(session.user_id) {
            by.require(Action::ManageCredentials)?;
        }
        self.end_sessions(by, vec![id]).await?;
        Ok(session)
    }

    /// Ends every session of the caller except the one it is using; returns how many.
    pub async fn end_other_sessions(&self, by: &Principal) -> Result<usize, CommandError> {
        let Some(user) = by.user_id() else {
            return Ok(0);
        };
        let ids: Vec<SessionId> = self
            .state()
            .sessions_of(user)
            .iter()
            .map(|s| s.id)
            .filter(|id| by.credential != Credential::Session(*id))
            .collect();
        let count = ids.len();
        self.end_sessions(by, ids).await?;
        Ok(count)
    }

    /// Ends sessions (logout, "end session", a password change) and closes their sockets.
    pub(super) async fn end_sessions(
        &self,
        by: &Principal,
        ids: Vec<SessionId>,
    ) -> Result<(), CommandError> {
        if ids.is_empty() {
            return Ok(());
        }
        let at = self.clock().now();
        self.commit(Event::SessionsEnded {
            ids: ids.clone(),
            at,
            actor: by.actor.clone(),
        })
        .await?;
        for id in ids {
            self.revoke(Revoked::Session(id));
        }
        Ok(())
    }

    /// Logs out: ends the session the caller is using, if it is one.
    pub async fn log_out(&self, by: &Principal) -> Result<(), CommandError> {
        match by.credential {
            Credential::Session(id) => self.end_sessions(by, vec![id]).await,
            _ => Ok(()),
        }
    }

    /// Makes an API token whose secret has `digest` (the caller shows the secret once).
    pub async fn create_api_token(
        &self,
        by: &Principal,
        name: &str,
        role: Role,
        expires_at: Option<Timestamp>,
        digest: SecretDigest,
    ) -> Result<Arc<ApiToken>, CommandError> {
        by.require(Action::ManageCredentials)?;
        let now = self.clock().now();
        let token = ApiToken::parse(
            ApiTokenId::new(),
            name,
            role,
            digest,
            expires_at,
            now,
            by.actor.clone(),
        )?;
        self.commit(Event::ApiTokenCreated {
            token: token.clone(),
        })
        .await?;
        Ok(Arc::new(token))
    }

    /// Revokes a token at once, open WebSockets included. Revoking twice is a no-op.
    pub async fn revoke_api_token(
        &self,
        by: &Principal,
        id: &str,
    ) -> Result<Arc<ApiToken>, CommandError> {
        by.require(Action::ManageCredentials)?;
        let id: ApiTokenId = id.parse()?;
        let token = self
            .state()
            .api_tokens
            .get(&id)
            .map(|t| t.clone())
            .ok_or_else(|| DomainError::not_found("API token", id))?;
        if token.revoked_at.is_some() {
            return Ok(token);
        }
        let at = self.clock().now();
        self.commit(Event::ApiTokenRevoked {
            id,
            at,
            actor: by.actor.clone(),
        })
        .await?;
        self.revoke(Revoked::ApiToken(id));
        Ok(self
            .state()
            .api_tokens
            .get(&id)
            .map(|t| t.clone())
            .unwrap_or(token))
    }

    /// Every API token, newest first (admins only).
    pub fn api_tokens(&self, by: &Principal) -> Result<Vec<Arc<ApiToken>>, CommandError> {
        by.require(Action::ManageCredentials)?;
        let mut tokens: Vec<_> = self.state().api_tokens.iter().map(|t| t.clone()).collect();
        tokens.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(tokens)
    }
}
