//! Who may do what, and who did it: roles, the actions they allow, the principal behind a
//! request, the actor recorded on every change, and the durable records of API tokens and
//! sessions.
//!
//! This is the one place the permission rules live ([`Action::minimum_role`]); the store
//! calls [`Principal::require`] at the top of every command, before it validates anything,
//! so a refused caller learns nothing about the input. Pure: no hashing, no randomness,
//! no clock.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use super::ids::{ApiTokenId, SessionId};
use super::{DomainError, Timestamp, UserId, text};

/// What a user or token may do. Each role can do everything the ones below it can.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything except secrets, and subscribes.
    Viewer,
    /// Also works incidents: trigger, acknowledge, resolve, escalate, overrides.
    #[default]
    Responder,
    /// Also changes configuration and manages credentials.
    Admin,
}

impl Role {
    /// The contract's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "VIEWER",
            Self::Responder => "RESPONDER",
            Self::Admin => "ADMIN",
        }
    }

    /// Whether this role allows `action`.
    pub fn allows(self, action: Action) -> bool {
        self >= action.minimum_role()
    }
}

/// Everything a caller can ask for that not every role may do. Reads that any role may do
/// are not listed: any authenticated caller may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Open an incident (or fold a repeat into one).
    TriggerIncident,
    /// Acknowledge, resolve, escalate, reassign, snooze, add a note.
    WorkIncident,
    /// Add or remove a schedule override.
    EditOverrides,
    /// Create, update or delete users, services, schedules, rotations; rotate calendar URLs.
    Configure,
    /// Create, list or revoke API tokens; read other people's secrets.
    ManageCredentials,
    /// Create, list or delete outbound webhooks (each holds a signing secret).
    ManageWebhooks,
}

impl Action {
    /// The permission table: the least role that may do this.
    pub const fn minimum_role(self) -> Role {
        match self {
            Self::TriggerIncident | Self::WorkIncident | Self::EditOverrides => Role::Responder,
            Self::Configure | Self::ManageCredentials | Self::ManageWebhooks => Role::Admin,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::TriggerIncident => "trigger incidents",
            Self::WorkIncident => "acknowledge, resolve or escalate incidents",
            Self::EditOverrides => "change schedule overrides",
            Self::Configure => "change users, services and schedules",
            Self::ManageCredentials => "manage API tokens and secrets",
            Self::ManageWebhooks => "manage outbound webhooks",
        }
    }
}

/// What kind of party made a change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A person, through a session (or a link in a page sent to them).
    User,
    /// A script, through an API token (`KLAXON_ADMIN_TOKEN` included).
    ApiToken,
    /// A monitoring tool, through an integration key.
    Integration,
    /// Klaxon itself: timers, heartbeats, start-up, and every change journaled before
    /// actors were recorded.
    #[default]
    System,
}

/// Who made a change, as recorded in the journal. The name is copied at the time of the
/// change, so history still reads right after a rename or deletion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// What kind of party.
    pub kind: ActorKind,
    /// The user, token or integration id; none for the system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// Its display name at the time (shared: every copy of an actor in an incident's
    /// timeline points at one string, and names read back from the journal are interned).
    #[serde(deserialize_with = "interned_name")]
    pub name: std::sync::Arc<str>,
}

/// The system actor's name, allocated once.
static KLAXON: std::sync::LazyLock<std::sync::Arc<str>> =
    std::sync::LazyLock::new(|| std::sync::Arc::from("Klaxon"));

/// Actor names, shared: a few people, tokens and monitors act on thousands of incidents,
/// each of which keeps who triggered it; names read back from the journal and the names
/// of principals ([`Actor::new`]) are interned here, so an incident carries a pointer to
/// its trigger's name, not a copy of its own (~32 bytes an incident).
static NAMES: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashSet<std::sync::Arc<str>>>,
> = std::sync::LazyLock::new(|| {
    std::sync::Mutex::new(std::collections::HashSet::from([KLAXON.clone()]))
});

/// Most names interned; past it (only after that many renames) names are not shared.
const MAX_INTERNED_NAMES: usize = 100_000;

/// The one shared copy of `name`.
pub fn intern_name(name: &str) -> std::sync::Arc<str> {
    let mut names = match NAMES.lock() {
        Ok(names) => names,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(shared) = names.get(name) {
        return shared.clone();
    }
    let fresh: std::sync::Arc<str> = std::sync::Arc::from(name);
    if names.len() < MAX_INTERNED_NAMES {
        names.insert(fresh.clone());
    }
    fresh
}

fn interned_name<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<std::sync::Arc<str>, D::Error> {
    let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
    Ok(intern_name(&name))
}

impl Default for Actor {
    fn default() -> Self {
        Self::system()
    }
}

impl Actor {
    /// Klaxon itself.
    pub fn system() -> Self {
        Self {
            kind: ActorKind::System,
            id: None,
            name: KLAXON.clone(),
        }
    }

    /// A party acting now, its name shared ([`intern_name`]).
    pub fn new(kind: ActorKind, id: Option<Uuid>, name: &str) -> Self {
        Self {
            kind,
            id,
            name: intern_name(name),
        }
    }

    /// A person.
    pub fn user(id: UserId, name: &str) -> Self {
        Self::new(ActorKind::User, Some(id.0), name)
    }

    /// The user behind this actor, if it is a person.
    pub fn user_id(&self) -> Option<UserId> {
        match self.kind {
            ActorKind::User => self.id.map(UserId),
            _ => None,
        }
    }
}

/// The credential a principal presented, so it can be ended or revoked while in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Credential {
    /// A person's login session.
    Session(SessionId),
    /// An API token.
    ApiToken(ApiTokenId),
    /// The `KLAXON_ADMIN_TOKEN` of this process.
    BootstrapToken,
    /// Internal: timers, start-up, the demo loader.
    System,
}

/// Who is asking: an authenticated caller with its role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Recorded on every change this caller makes.
    pub actor: Actor,
    /// What it may do.
    pub role: Role,
    /// What it presented.
    pub credential: Credential,
    /// When the credential stops working, if it does.
    pub expires_at: Option<Timestamp>,
}

impl Principal {
    /// Klaxon itself, with every permission: timers, start-up work, the demo loader.
    pub fn system() -> Self {
        Self {
            actor: Actor::system(),
            role: Role::Admin,
            credential: Credential::System,
            expires_at: None,
        }
    }

    /// `FORBIDDEN` unless this principal's role allows `action`.
    pub fn require(&self, action: Action) -> Result<(), DomainError> {
        if self.role.allows(action) {
            Ok(())
        } else {
            Err(DomainError::Forbidden(format!(
                "{} has the role {}, which may not {}; ask an admin",
                self.actor.name,
                self.role.as_str(),
                action.describe()
            )))
        }
    }

    /// The person behind this principal, if it is one.
    pub fn user_id(&self) -> Option<UserId> {
        self.actor.user_id()
    }
}

/// A stored secret digest: lower-case hex SHA-256 of the secret. Its `Debug` never prints
/// the value, so a digest cannot end up in a log line.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretDigest(pub String);

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(..)")
    }
}

/// A password's argon2id hash in PHC format. Never printed, never returned.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// Shortest accepted password.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest accepted password (argon2 takes any length; this bounds the work per request).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Validates a new password's length (its hash is made by the caller, off the hot path).
pub fn check_password(field: &str, password: &str) -> Result<(), DomainError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(DomainError::invalid(
            field,
            format!("must be at least {MIN_PASSWORD_CHARS} characters (got {chars})"),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

/// A script's credential. Only the digest of its secret is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Stable id.
    pub id: ApiTokenId,
    /// What it is for, 1..=200 characters.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the secret.
    pub digest: SecretDigest,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
    /// When it was last presented (recorded at most once a minute).
    #[serde(default)]
    pub last_used_at: Option<Timestamp>,
    /// When it was revoked.
    #[serde(default)]
    pub revoked_at: Option<Timestamp>,
    /// Who made it.
    #[serde(default)]
    pub created_by: Actor,
}

impl ApiToken {
    /// Validates a new token's fields.
    pub fn parse(
        id: ApiTokenId,
        name: &str,
        role: Role,
        digest: SecretDigest,
        expires_at: Option<Timestamp>,
        now: Timestamp,
        created_by: Actor,
    ) -> Result<Self, DomainError> {
        let name = text::name("name", name)?;
        if expires_at.is_some_and(|at| at <= now) {
            return Err(DomainError::invalid("expiresAt", "must be in the future"));
        }
        Ok(Self {
            id,
            name,
            role,
            digest,
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
            created_by,
        })
    }

    /// Whether it authenticates at `now`.
    pub fn is_valid_at(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }
}

/// A person's login. Only the digest of the cookie's secret is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Stable id (shown in the list of one's sessions).
    pub id: SessionId,
    /// Whose.
    pub user_id: UserId,
    /// SHA-256 of the cookie's secret.
    pub digest: SecretDigest,
    /// When the person logged in.
    pub created_at: Timestamp,
    /// When it was last used (recorded at most once a minute).
    pub last_seen_at: Timestamp,
    /// The absolute end, whatever the activity.
    pub expires_at: Timestamp,
    /// How long it may sit unused, in milliseconds.
    pub idle_timeout_ms: i64,
    /// The browser, as it named itself (at most 200 characters).
    #[serde(default)]
    pub user_agent: Option<String>,
}

impl Session {
    /// When it ends if nothing uses it again.
    pub fn ends_at(&self) -> Timestamp {
        let idle = self.last_seen_at + chrono::Duration::milliseconds(self.idle_timeout_ms);
        idle.min(self.expires_at)
    }

    /// Whether it authenticates at `now`.
    pub fn is_valid_at(&self, now: Timestamp) -> bool {
        now < self.ends_at()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_read_back_share_one_name() {
        let alice = Actor {
            kind: ActorKind::User,
            id: Some(Uuid::nil()),
            name: "Alice Liddell".into(),
        };
        let bytes = rmp_serde::to_vec_named(&alice).unwrap();
        let first: Actor = rmp_serde::from_slice(&bytes).unwrap();
        let second: Actor = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(first, alice);
        assert!(std::sync::Arc::ptr_eq(&first.name, &second.name));
        let json: Actor = serde_json::from_str(&serde_json::to_string(&alice).unwrap()).unwrap();
        assert!(std::sync::Arc::ptr_eq(&json.name, &first.name));
        let system: Actor =
            rmp_serde::from_slice(&rmp_serde::to_vec_named(&Actor::system()).unwrap()).unwrap();
        assert!(std::sync::Arc::ptr_eq(&system.name, &Actor::system().name));
    }

    #[test]
    fn each_role_can_do_everything_the_one_below_can() {
        let actions = [
            Action::TriggerIncident,
            Action::WorkIncident,
            Action::EditOverrides,
            Action::Configure,
            Action::ManageCredentials,
            Action::ManageWebhooks,
        ];
        for action in actions {
            if Role::Viewer.allows(action) {
                assert!(Role::Responder.allows(action));
            }
            if Role::Responder.allows(action) {
                assert!(Role::Admin.allows(action));
            }
            assert!(Role::Admin.allows(action));
            assert!(!Role::Viewer.allows(action), "viewers only read");
        }
    }

    #[test]
    fn responders_work_incidents_but_do_not_configure() {
        assert!(Role::Responder.allows(Action::WorkIncident));
        assert!(Role::Responder.allows(Action::TriggerIncident));
        assert!(Role::Responder.allows(Action::EditOverrides));
        assert!(!Role::Responder.allows(Action::Configure));
        assert!(!Role::Responder.allows(Action::ManageWebhooks));
        assert!(!Role::Responder.allows(Action::ManageCredentials));
    }

    #[test]
    fn a_refusal_names_the_role_and_what_it_may_not_do() {
        let viewer = Principal {
            actor: Actor::user(UserId::new(), "Vera Viewer"),
            role: Role::Viewer,
            credential: Credential::System,
            expires_at: None,
        };
        let err = viewer.require(Action::WorkIncident).unwrap_err();
        let DomainError::Forbidden(message) = err else {
            panic!("not forbidden: {err:?}")
        };
        assert!(message.contains("VIEWER"), "{message}");
        assert!(message.contains("acknowledge"), "{message}");
    }

    #[test]
    fn passwords_need_twelve_characters() {
        assert!(check_password("password", "short-pass!").is_err());
        assert!(check_password("password", "twelve-chars").is_ok());
    }

    #[test]
    fn a_session_ends_at_the_idle_limit_or_the_absolute_one() {
        let t0 = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let session = Session {
            id: SessionId::new(),
            user_id: UserId::new(),
            digest: SecretDigest("x".into()),
            created_at: t0,
            last_seen_at: t0,
            expires_at: t0 + chrono::Duration::hours(10),
            idle_timeout_ms: 3_600_000,
            user_agent: None,
        };
        assert!(session.is_valid_at(t0 + chrono::Duration::minutes(59)));
        assert!(!session.is_valid_at(t0 + chrono::Duration::minutes(60)));
        let busy = Session {
            last_seen_at: t0 + chrono::Duration::hours(9) + chrono::Duration::minutes(30),
            ..session
        };
        assert!(busy.is_valid_at(t0 + chrono::Duration::hours(9) + chrono::Duration::minutes(59)));
        assert!(!busy.is_valid_at(t0 + chrono::Duration::hours(10)));
    }

    #[test]
    fn digests_and_hashes_never_print() {
        assert_eq!(
            format!("{:?}", PasswordHash("$argon2id$secret".into())),
            "PasswordHash(..)"
        );
        assert_eq!(
            format!("{:?}", SecretDigest("abc".into())),
            "SecretDigest(..)"
        );
    }
}
