//! One-click links in emails: a signed, expiring token naming one incident, one paged user
//! and one action. The key is made once and journaled, so links survive restarts; a link
//! stops working when it expires or its incident is resolved.

use std::sync::Arc;

use chrono::TimeDelta;

use super::{CommandError, Store};
use crate::domain::integration::IntegrationSecret;
use crate::domain::{
    Actor, Credential, DomainError, Event, Incident, IncidentId, IncidentState, Notification,
    Principal, Timestamp, User, UserId,
};
use crate::engine::notifier::PageContext;

/// How long an email's links work (unless the incident is resolved first).
pub const LINK_LIFETIME: TimeDelta = TimeDelta::days(7);

/// What a link does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkAction {
    /// Acknowledge the incident.
    Acknowledge,
    /// Resolve it.
    Resolve,
}

impl LinkAction {
    fn letter(self) -> char {
        match self {
            Self::Acknowledge => 'a',
            Self::Resolve => 'r',
        }
    }

    /// The verb, for pages.
    pub fn verb(self) -> &'static str {
        match self {
            Self::Acknowledge => "Acknowledge",
            Self::Resolve => "Resolve",
        }
    }
}

/// A verified link.
#[derive(Clone, Debug)]
pub struct Link {
    /// The incident it acts on.
    pub incident: Arc<Incident>,
    /// The paged user it acts as.
    pub user: Arc<User>,
    /// What it does.
    pub action: LinkAction,
}

/// Why a link does not work, for the page that says so.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a link this server made (or tampered with).
    #[error("this link is not valid")]
    Invalid,
    /// Older than its lifetime.
    #[error("this link has expired; open the incident in Klaxon instead")]
    Expired,
    /// Its incident is resolved: links are dead from then on.
    #[error("this incident is resolved; the link no longer works")]
    Resolved,
}

impl Store {
    /// Makes the link key on first start (journaled once).
    pub async fn ensure_link_key(&self) -> Result<(), CommandError> {
        if self.state().link_key.get().is_some() {
            return Ok(());
        }
        let key = IntegrationSecret(crate::secret::random_secret(""));
        self.commit(Event::LinkKeyCreated { key }).await?;
        Ok(())
    }

    fn link_key(&self) -> Option<&[u8]> {
        self.state().link_key.get().map(|k| k.0.as_bytes())
    }

    /// The token of a link acting on `incident` as `user`, working until `expires`.
    pub fn link_token(
        &self,
        incident: IncidentId,
        user: UserId,
        action: LinkAction,
        expires: Timestamp,
    ) -> Option<String> {
        let key = self.link_key()?;
        let payload = format!(
            "{}.{}.{}.{}",
            incident.0.simple(),
            user.0.simple(),
            action.letter(),
            expires.timestamp()
        );
        let signature = crate::engine::http_out::sign(key, payload.as_bytes());
        Some(format!("{payload}.{}", &signature[3..]))
    }

    /// Checks a link's token: signed by this server, not expired, incident not resolved.
    pub fn verify_link(&self, token: &str) -> Result<Link, LinkError> {
        if token.len() > 200 {
            return Err(LinkError::Invalid);
        }
        let key = self.link_key().ok_or(LinkError::Invalid)?;
        let (payload, signature) = token.rsplit_once('.').ok_or(LinkError::Invalid)?;
        if !crate::engine::http_out::verify(key, payload.as_bytes(), &format!("v1={signature}")) {
            return Err(LinkError::Invalid);
        }
        let parts: Vec<&str> = payload.split('.').collect();
        let [incident, user, action, expires] = parts.as_slice() else {
            return Err(LinkError::Invalid);
        };
        let incident: IncidentId = incident.parse().map_err(|_| LinkError::Invalid)?;
        let user: UserId = user.parse().map_err(|_| LinkError::Invalid)?;
        let action = match *action {
            "a" => LinkAction::Acknowledge,
            "r" => LinkAction::Resolve,
            _ => return Err(LinkError::Invalid),
        };
        let expires: i64 = expires.parse().map_err(|_| LinkError::Invalid)?;
        if self.shared.clock.now().timestamp() > expires {
            return Err(LinkError::Expired);
        }
        let incident = self.incident(incident).ok_or(LinkError::Invalid)?;
        if incident.state == IncidentState::Resolved {
            return Err(LinkError::Resolved);
        }
        let user = self.state().user(user).ok_or(LinkError::Invalid)?;
        Ok(Link {
            incident,
            user,
            action,
        })
    }

    /// Carries out a link's action as its user (actor kind `USER`), with that user's role
    /// as it is now.
    pub async fn act_by_link(&self, token: &str) -> Result<Arc<Incident>, LinkOutcomeError> {
        let link = self.verify_link(token).map_err(LinkOutcomeError::Link)?;
        let by = Principal {
            actor: Actor::user(link.user.id, &link.user.name),
            role: link.user.role,
            credential: Credential::System,
            expires_at: None,
        };
        let id = link.incident.id.to_string();
        let result = match link.action {
            LinkAction::Acknowledge => self.acknowledge(&by, &id).await,
            LinkAction::Resolve => self.resolve(&by, &id).await,
        };
        result.map_err(LinkOutcomeError::Command)
    }

    /// What a message about `page` shows: the incident with its service, assignee and the
    /// rest of its policy, its link, and (for email) its one-click links.
    pub fn page_context(
        &self,
        incident: IncidentId,
        page: &Notification,
        public_url: &str,
    ) -> Option<PageContext> {
        let incident = self.incident(incident)?;
        let name = |id: UserId| self.state().user_any(id).map(|u| u.name.clone());
        let now = self.shared.clock.now();
        let mut others: Vec<String> = Vec::new();
        let on_call = self
            .state()
            .schedule_any(incident.schedule_id)
            .and_then(|s| s.on_call(now));
        let levels = incident
            .escalation_policy
            .levels
            .iter()
            .map(|level| self.level_target(level, now));
        for user in std::iter::once(on_call).chain(levels).flatten() {
            if user != page.user_id {
                if let Some(n) = name(user).filter(|n| !others.contains(n)) {
                    others.push(n);
                }
            }
        }
        let (acknowledge_url, resolve_url) = if &*page.channel == "email" {
            let expires = now + LINK_LIFETIME;
            let link = |action| {
                self.link_token(incident.id, page.user_id, action, expires)
                    .map(|t| format!("{public_url}/actions/{t}"))
            };
            (link(LinkAction::Acknowledge), link(LinkAction::Resolve))
        } else {
            (None, None)
        };
        Some(PageContext {
            names: self.state().envelope_names(&incident),
            others,
            base: public_url.to_owned(),
            acknowledge_url,
            resolve_url,
            incident,
        })
    }
}

/// Why a link's action did not happen.
#[derive(Debug, thiserror::Error)]
pub enum LinkOutcomeError {
    /// The link itself does not work.
    #[error(transparent)]
    Link(LinkError),
    /// The action was refused (already acknowledged, the user may not, ...).
    #[error(transparent)]
    Command(CommandError),
}

impl From<DomainError> for LinkOutcomeError {
    fn from(e: DomainError) -> Self {
        Self::Command(e.into())
    }
}
