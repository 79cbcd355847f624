//! The door: turns what a request presents (a bearer token, a session cookie, a one-time
//! link) into a [`Principal`], and holds the secrets machinery: random secrets, SHA-256
//! digests compared in constant time, argon2id password hashing off the async threads,
//! and the login rate limits.
//!
//! What each role may do is not decided here but in `domain::auth` (the permission table),
//! enforced by the store's commands. This module never logs a secret, a digest or a hash.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::{Output, ParamsString, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash as PhcHash, Version};
use dashmap::DashMap;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;

use crate::domain::{
    Actor, ActorKind, Credential, PasswordHash, Principal, Role, SecretDigest, Timestamp, UserId,
};
pub use crate::secret::{digest, random_secret, same_secret};
use crate::store::{CommandError, Store};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "klaxon_session";
/// The actor name of `KLAXON_ADMIN_TOKEN`.
pub const BOOTSTRAP_TOKEN_NAME: &str = "KLAXON_ADMIN_TOKEN";
/// Shortest accepted `KLAXON_ADMIN_TOKEN`.
pub const MIN_BOOTSTRAP_TOKEN_CHARS: usize = 32;
/// Usage (`lastUsedAt`, a session's last activity) is journaled at most this often.
pub const USAGE_GRANULARITY: chrono::Duration = chrono::Duration::seconds(60);
/// How long a one-time login or setup link works.
pub const LINK_LIFETIME: chrono::Duration = chrono::Duration::minutes(60);
/// Prefix of API token secrets, so a leaked one is recognisable in a scanner.
pub const TOKEN_PREFIX: &str = "kxn_";

/// Why a request is not authenticated. Every variant answers `UNAUTHENTICATED` with a
/// message that reveals nothing about which accounts or tokens exist.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// Nothing was presented.
    #[error("this needs a credential: log in, or send Authorization: Bearer <API token>")]
    Missing,
    /// Something was presented but it does not authenticate (unknown, expired, revoked,
    /// malformed).
    #[error(
        "the credential is not valid (unknown, expired or revoked); log in again or use another token"
    )]
    Invalid,
}

/// Why a login was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Wrong email or password: one answer for both.
    #[error("The email or password is not right.")]
    Wrong,
    /// Too many attempts for this account or from this address.
    #[error("Too many login attempts; try again in {} s.", .0.as_secs().max(1))]
    RateLimited(Duration),
    /// Malformed input.
    #[error("{field}: {message}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The change could not be recorded.
    #[error(transparent)]
    Command(#[from] CommandError),
}

/// argon2id with the crate's defaults, which are OWASP's (19 MiB, 2 passes, 1 lane).
/// Hashing and verifying are blocking work: they run on the blocking pool, at most
/// `parallel` at a time, so a burst of logins cannot starve the async threads or the memory.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Verified when the email names nobody (or somebody with no password), so a wrong
    /// email costs exactly what a wrong password costs.
    decoy: Arc<PasswordHash>,
}

impl Passwords {
    /// A hasher allowing `parallel` concurrent hashes.
    pub fn new(parallel: usize) -> Self {
        let decoy = hash_blocking(&random_secret("decoy-"));
        Self {
            permits: Arc::new(Semaphore::new(parallel.max(1))),
            decoy: Arc::new(decoy),
        }
    }

    /// Hashes a password (validated by the caller).
    pub async fn hash(&self, password: &str) -> PasswordHash {
        let _permit = self.permits.acquire().await;
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || hash_blocking(&password))
            .await
            .expect("password hashing panicked")
    }

    /// Whether `password` matches `hash`; with no hash, checks the decoy (and fails).
    pub async fn verify(&self, password: &str, hash: Option<&PasswordHash>) -> bool {
        let _permit = self.permits.acquire().await;
        let (hash, real) = match hash {
            Some(hash) => (hash.clone(), true),
            None => ((*self.decoy).clone(), false),
        };
        let password = password.to_owned();
        let matched = tokio::task::spawn_blocking(move || verify_blocking(&password, &hash))
            .await
            .unwrap_or(false);
        matched && real
    }
}

fn hash_blocking(password: &str) -> PasswordHash {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the operating system's random source failed");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt");
    let params = Params::default();
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        argon2_into(&hasher, password.as_bytes(), salt.as_str(), out)
    })
    .expect("argon2 with default parameters accepts any password");
    let hash = PhcHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).expect("the default parameters encode"),
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    PasswordHash(hash.to_string())
}

fn verify_blocking(password: &str, hash: &PasswordHash) -> bool {
    let Ok(parsed) = PhcHash::new(&hash.0) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let Ok(version) = version else {
        return false;
    };
    let hasher = Argon2::new(algorithm, version, params);
    // `Output`'s equality is constant-time.
    Output::init_with(expected.len(), |out| {
        argon2_into(&hasher, password.as_bytes(), salt.as_str(), out)
    })
    .is_ok_and(|computed| computed == expected)
}

/// Runs argon2 with its working memory (19 MiB by default) in a mapping of its own,
/// unmapped when done, so each hash gives its memory back to the system at once instead
/// of leaving it in the allocator's free pages (where it showed as resident memory).
fn argon2_into(
    hasher: &Argon2<'_>,
    password: &[u8],
    salt_b64: &str,
    out: &mut [u8],
) -> Result<(), argon2::password_hash::Error> {
    let mut salt = [0u8; 64];
    let salt = argon2::password_hash::Salt::from_b64(salt_b64)?.decode_b64(&mut salt)?;
    let mut memory = scratch::Blocks::map(hasher.params().block_count())
        .map_err(|_| argon2::password_hash::Error::Crypto)?;
    hasher.hash_password_into_with_memory(password, salt, out, memory.blocks())?;
    Ok(())
}

mod scratch {
    //! Anonymous memory mappings for argon2's blocks.

    use super::Block;

    /// `count` zeroed argon2 blocks in a private anonymous mapping, unmapped on drop.
    pub struct Blocks {
        ptr: std::ptr::NonNull<Block>,
        count: usize,
    }

    impl Blocks {
        /// Maps `count` blocks (zeroed by the kernel).
        pub fn map(count: usize) -> std::io::Result<Self> {
            let len = count
                .checked_mul(Block::SIZE)
                .filter(|len| *len > 0)
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
            // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if ptr == libc::MAP_FAILED {
                return Err(std::io::Error::last_os_error());
            }
            let ptr = std::ptr::NonNull::new(ptr.cast::<Block>())
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
            Ok(Self { ptr, count })
        }

        /// The blocks.
        pub fn blocks(&mut self) -> &mut [Block] {
            // SAFETY: the mapping holds `count` blocks, is page-aligned (a block needs 64),
            // zero-filled (all-zero words are a valid block), and lives as long as `self`,
            // which this borrow is tied to.
            unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.count) }
        }
    }

    impl Drop for Blocks {
        fn drop(&mut self) {
            // SAFETY: unmaps exactly the mapping made in `map`, which nothing borrows now.
            unsafe {
                libc::munmap(self.ptr.as_ptr().cast(), self.count * Block::SIZE);
            }
        }
    }

    // SAFETY: the mapping is owned by this value alone, like a `Box<[Block]>`.
    unsafe impl Send for Blocks {}
}

/// How many login attempts are allowed: a burst, then one per period, per account and per
/// client address.
#[derive(Clone, Copy, Debug)]
pub struct LoginQuota {
    /// Attempts one account takes at once.
    pub account_burst: u32,
    /// Then one attempt per this long.
    pub account_every: Duration,
    /// Attempts one client address takes at once.
    pub address_burst: u32,
    /// Then one attempt per this long.
    pub address_every: Duration,
}

impl Default for LoginQuota {
    fn default() -> Self {
        // An account: 5 tries, then one every 12 s (5 a minute). An address: 20 tries, then
        // one every 3 s (20 a minute), for offices behind one NAT.
        Self {
            account_burst: 5,
            account_every: Duration::from_secs(12),
            address_burst: 20,
            address_every: Duration::from_secs(3),
        }
    }
}

/// Login attempts allowed per account and per client address: a burst, then a steady rate.
pub struct LoginLimits {
    per_account: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
}

impl LoginLimits {
    /// Limits with `quota`.
    pub fn new(quota: LoginQuota) -> Self {
        let LoginQuota {
            account_burst,
            account_every,
            address_burst,
            address_every,
        } = quota;
        let limit = |burst: u32, every: Duration| {
            Quota::with_period(every)
                .expect("a non-zero period")
                .allow_burst(NonZeroU32::new(burst.max(1)).expect("non-zero"))
        };
        Self {
            per_account: RateLimiter::keyed(limit(account_burst, account_every)),
            per_address: RateLimiter::keyed(limit(address_burst, address_every)),
        }
    }

    /// Takes one attempt for `email` from `address`, or says how long to wait.
    pub fn check(&self, email: &str, address: IpAddr) -> Result<(), Duration> {
        use governor::clock::{Clock, DefaultClock};
        let now = DefaultClock::default().now();
        let wait = |n: governor::NotUntil<_>| n.wait_time_from(now);
        self.per_address.check_key(&address).map_err(wait)?;
        self.per_account
            .check_key(&email.trim().to_lowercase())
            .map_err(wait)?;
        // Keys whose limits have fully replenished are forgotten: memory stays bounded.
        if self.per_account.len() > 10_000 {
            self.per_account.retain_recent();
        }
        if self.per_address.len() > 10_000 {
            self.per_address.retain_recent();
        }
        Ok(())
    }
}

/// How sessions behave.
#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    /// A session unused this long ends.
    pub idle: chrono::Duration,
    /// A session ends this long after login, whatever the activity.
    pub lifetime: chrono::Duration,
    /// Cookies get `Secure` (when the public URL is https).
    pub secure_cookie: bool,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle: chrono::Duration::days(7),
            lifetime: chrono::Duration::days(30),
            secure_cookie: false,
        }
    }
}

/// One-time links: login links (the demo) and the first-admin setup link. In memory only:
/// a restart prints new ones.
#[derive(Default)]
struct Links {
    /// Login link digest → (user, expiry).
    logins: DashMap<String, (UserId, Timestamp)>,
    /// The setup link's digest and expiry, while no admin can log in.
    setup: Mutex<Option<(SecretDigest, Timestamp)>>,
}

/// Authentication for every edge: HTTP, WebSocket, the REST adapter, the calendar feed.
#[derive(Clone)]
pub struct Gate {
    inner: Arc<GateInner>,
}

struct GateInner {
    store: Store,
    bootstrap: Option<SecretDigest>,
    sessions: SessionPolicy,
    passwords: Passwords,
    limits: LoginLimits,
    links: Links,
}

impl Gate {
    /// A gate over `store`. `bootstrap` is `KLAXON_ADMIN_TOKEN`, already checked for length.
    pub fn new(
        store: Store,
        bootstrap: Option<&str>,
        sessions: SessionPolicy,
        limits: LoginQuota,
    ) -> Self {
        Self {
            inner: Arc::new(GateInner {
                store,
                bootstrap: bootstrap.map(digest),
                sessions,
                passwords: Passwords::new(
                    std::thread::available_parallelism().map_or(2, |n| n.get()),
                ),
                limits: LoginLimits::new(limits),
                links: Links::default(),
            }),
        }
    }

    /// The store behind it.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The password hasher.
    pub fn passwords(&self) -> &Passwords {
        &self.inner.passwords
    }

    /// Session settings.
    pub fn session_policy(&self) -> SessionPolicy {
        self.inner.sessions
    }

    /// Authenticates an `Authorization` header value (`Bearer <token>`).
    pub fn bearer(&self, header: &str) -> Result<Principal, AuthError> {
        let token = header
            .trim()
            .strip_prefix("Bearer ")
            .or_else(|| header.trim().strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 512)
            .ok_or(AuthError::Invalid)?;
        let presented = digest(token);
        if let Some(bootstrap) = &self.inner.bootstrap {
            if same_secret(&presented.0, &bootstrap.0) {
                return Ok(Principal {
                    actor: Actor::new(ActorKind::ApiToken, None, BOOTSTRAP_TOKEN_NAME),
                    role: Role::Admin,
                    credential: Credential::BootstrapToken,
                    expires_at: None,
                });
            }
        }
        let store = self.store();
        let now = store.clock().now();
        let id = store
            .state()
            .token_digests
            .get(&presented.0)
            .map(|id| *id)
            .ok_or(AuthError::Invalid)?;
        let token = store
            .state()
            .api_tokens
            .get(&id)
            .map(|t| t.clone())
            .ok_or(AuthError::Invalid)?;
        if !same_secret(&token.digest.0, &presented.0) || !token.is_valid_at(now) {
            return Err(AuthError::Invalid);
        }
        if token
            .last_used_at
            .is_none_or(|at| now - at >= USAGE_GRANULARITY)
        {
            store.note_token_use(id, now);
        }
        Ok(Principal {
            actor: Actor::new(ActorKind::ApiToken, Some(token.id.0), &token.name),
            role: token.role,
            credential: Credential::ApiToken(token.id),
            expires_at: token.expires_at,
        })
    }

    /// Whether a principal resolved earlier (a WebSocket's) is still what its credential
    /// says now: not ended, revoked or expired, and the same role.
    pub fn still_valid(&self, principal: &Principal) -> bool {
        let state = self.store().state();
        let now = self.store().clock().now();
        match principal.credential {
            Credential::Session(id) => state.sessions.get(&id).is_some_and(|s| {
                s.is_valid_at(now)
                    && state
                        .user(s.user_id)
                        .is_some_and(|u| u.role == principal.role)
            }),
            Credential::ApiToken(id) => state
                .api_tokens
                .get(&id)
                .is_some_and(|t| t.is_valid_at(now)),
            Credential::BootstrapToken | Credential::System => true,
        }
    }

    /// Authenticates a session cookie's value.
    pub fn session(&self, secret: &str) -> Result<Principal, AuthError> {
        if secret.is_empty() || secret.len() > 512 {
            return Err(AuthError::Invalid);
        }
        let presented = digest(secret);
        let store = self.store();
        let now = store.clock().now();
        let id = store
            .state()
            .session_digests
            .get(&presented.0)
            .map(|id| *id)
            .ok_or(AuthError::Invalid)?;
        let session = store
            .state()
            .sessions
            .get(&id)
            .map(|s| s.clone())
            .ok_or(AuthError::Invalid)?;
        if !same_secret(&session.digest.0, &presented.0) || !session.is_valid_at(now) {
            return Err(AuthError::Invalid);
        }
        // The role is read from the user on every request: a role change applies at once.
        let user = store
            .state()
            .user(session.user_id)
            .ok_or(AuthError::Invalid)?;
        if now - session.last_seen_at >= USAGE_GRANULARITY {
            store.note_session_use(id, now);
        }
        Ok(Principal {
            actor: Actor::user(user.id, &user.name),
            role: user.role,
            credential: Credential::Session(session.id),
            expires_at: Some(session.expires_at),
        })
    }

    /// Checks an email and password and starts a session. Rate limited per account and per
    /// address before any work; an unknown email costs one argon2 verification, like a
    /// wrong password, and gets the same answer.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        address: IpAddr,
        user_agent: Option<&str>,
    ) -> Result<(Principal, String), LoginError> {
        if email.len() > 320 || password.chars().count() > crate::domain::auth::MAX_PASSWORD_CHARS {
            return Err(LoginError::Wrong);
        }
        self.inner
            .limits
            .check(email, address)
            .map_err(LoginError::RateLimited)?;
        let user = self.store().user_by_email(email);
        let hash = user.as_ref().and_then(|u| u.password.as_ref());
        if !self.inner.passwords.verify(password, hash).await {
            return Err(LoginError::Wrong);
        }
        let Some(user) = user else {
            return Err(LoginError::Wrong);
        };
        self.start_session(user.id, user_agent).await
    }

    /// Starts a session for `user` (after a login, a setup or a one-time link).
    pub async fn start_session(
        &self,
        user: UserId,
        user_agent: Option<&str>,
    ) -> Result<(Principal, String), LoginError> {
        let secret = random_secret("");
        let policy = self.inner.sessions;
        let session = self
            .store()
            .start_session(
                user,
                digest(&secret),
                policy.idle,
                policy.lifetime,
                user_agent,
            )
            .await?;
        let principal = self.session(&secret).map_err(|_| LoginError::Wrong)?;
        debug_assert_eq!(principal.credential, Credential::Session(session.id));
        Ok((principal, secret))
    }

    /// A one-time login link's token for `user`, valid for [`LINK_LIFETIME`].
    pub fn login_link(&self, user: UserId) -> String {
        let secret = random_secret("");
        let expires = self.store().clock().now() + LINK_LIFETIME;
        self.inner
            .links
            .logins
            .insert(digest(&secret).0, (user, expires));
        secret
    }

    /// Uses a one-time login link: the user it was made for, once, before it expires.
    pub fn redeem_login_link(&self, secret: &str) -> Option<UserId> {
        let now = self.store().clock().now();
        self.inner
            .links
            .logins
            .retain(|_, (_, expires)| *expires > now);
        let (_, (user, expires)) = self.inner.links.logins.remove(&digest(secret).0)?;
        (expires > now).then_some(user)
    }

    /// Whether the server still needs its first admin (nobody can log in as one).
    pub fn setup_required(&self) -> bool {
        !self
            .store()
            .users()
            .iter()
            .any(|u| u.role == Role::Admin && u.password.is_some())
    }

    /// A fresh one-time setup link's token (replacing any earlier one), when setup is
    /// required.
    pub fn setup_link(&self) -> Option<String> {
        if !self.setup_required() {
            return None;
        }
        let secret = random_secret("");
        let expires = self.store().clock().now() + LINK_LIFETIME;
        *self
            .inner
            .links
            .setup
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((digest(&secret), expires));
        Some(secret)
    }

    /// Uses the setup link: true once, while setup is required and the link is fresh.
    pub fn redeem_setup_link(&self, secret: &str) -> bool {
        let now = self.store().clock().now();
        let mut setup = self
            .inner
            .links
            .setup
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let valid = setup.as_ref().is_some_and(|(expected, expires)| {
            *expires > now && same_secret(&digest(secret).0, &expected.0)
        });
        if valid && self.setup_required() {
            *setup = None;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_prefixed() {
        let a = random_secret(TOKEN_PREFIX);
        let b = random_secret(TOKEN_PREFIX);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 64);
        assert_ne!(a, b);
    }

    #[test]
    fn a_digest_is_sha256_hex() {
        assert_eq!(
            digest("abc").0,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn same_secret_compares_whole_values() {
        assert!(same_secret("abcd", "abcd"));
        assert!(!same_secret("abcd", "abce"));
        assert!(!same_secret("abcd", "abc"));
    }

    #[tokio::test]
    async fn a_password_verifies_against_its_hash_only() {
        let passwords = Passwords::new(2);
        let hash = passwords.hash("correct horse battery").await;
        assert!(hash.0.starts_with("$argon2id$"));
        assert!(passwords.verify("correct horse battery", Some(&hash)).await);
        assert!(!passwords.verify("correct horse batterY", Some(&hash)).await);
        assert!(!passwords.verify("correct horse battery", None).await);
    }

    #[test]
    fn hashes_agree_with_the_argon2_crates_own_hasher() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        // A hash stored by an earlier version (the crate's hasher) still verifies...
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        let theirs = Argon2::default()
            .hash_password(b"s3cret pass", &salt)
            .unwrap()
            .to_string();
        assert!(verify_blocking(
            "s3cret pass",
            &PasswordHash(theirs.clone())
        ));
        assert!(!verify_blocking("s3cret pasS", &PasswordHash(theirs)));
        // ...and ours is the same format, which the crate verifies.
        let ours = hash_blocking("s3cret pass");
        let parsed = PhcHash::new(&ours.0).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"s3cret pass", &parsed)
                .is_ok()
        );
        // Malformed or truncated hashes never verify (and never panic).
        for bad in [
            "",
            "$argon2id$",
            "$argon2id$v=19$m=19456,t=2,p=1$",
            "not a hash",
        ] {
            assert!(!verify_blocking("s3cret pass", &PasswordHash(bad.into())));
        }
    }

    #[test]
    fn logins_are_limited_per_account_and_per_address() {
        let limits = LoginLimits::new(LoginQuota {
            account_burst: 2,
            account_every: Duration::from_secs(60),
            address_burst: 3,
            address_every: Duration::from_secs(60),
        });
        let here: IpAddr = "127.0.0.1".parse().unwrap();
        let there: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(limits.check("a@example.com", here).is_ok());
        assert!(limits.check("A@example.com ", here).is_ok());
        // The account is spent, from any address.
        assert!(limits.check("a@example.com", there).is_err());
        // The address has one attempt left, for another account.
        assert!(limits.check("b@example.com", here).is_ok());
        assert!(limits.check("c@example.com", here).is_err());
    }
}
