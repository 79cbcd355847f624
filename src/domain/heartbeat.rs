//! Heartbeats: a monitor (a cron job, a backup script) that must check in every
//! `interval_ms`; silence past that is an outage, and an outage is an incident.
//!
//! Pure rules only: validating a new heartbeat, the state it is in, and what a beat or a
//! passed deadline decides. The store journals the decisions, the engine times the
//! deadline; nothing here reads a clock.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::{Actor, DomainError, HeartbeatId, IncidentId, ScheduleId, Timestamp, text};

/// Shortest interval: 1 s. Production monitors want a minute or more; a second keeps tests
/// and benchmarks fast and costs nothing (the engine never polls).
pub const MIN_INTERVAL_MS: i64 = 1_000;
/// Longest interval: 30 days (a monthly job with slack wants that much). In milliseconds that
/// is past 2^31, so the API reads and writes `intervalMs` as a 64-bit JSON number (see
/// `graphql::heartbeats`); it fits the stored `u32` with room to spare.
pub const MAX_INTERVAL_MS: i64 = 30 * 24 * 3_600 * 1_000;
/// Beats closer together than `interval / BEAT_RECORD_FRACTION` after the last recorded one
/// are kept in memory only (no journal write, no fsync); see [`Heartbeat::beat`].
pub const BEAT_RECORD_FRACTION: i32 = 10;
/// Characters in a heartbeat's URL token (128 random bits, hex).
pub const TOKEN_CHARS: usize = 32;

/// What a heartbeat says about its monitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeartbeatState {
    /// Never beat: raises nothing.
    Inactive,
    /// Beat within its interval.
    Healthy,
    /// Its deadline passed without a beat: an incident was triggered.
    Unhealthy,
}

/// A monitor that must check in every `interval_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Stable id.
    pub id: HeartbeatId,
    /// Display name, 1..=200 characters.
    pub name: String,
    /// The schedule its outages page (its service is the schedule's).
    pub schedule_id: ScheduleId,
    /// How long it may stay silent.
    pub interval_ms: u32,
    /// The secret in its URL ([`TOKEN_CHARS`] hex characters).
    pub token: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// Who made it.
    #[serde(default)]
    pub created_by: Actor,
    /// The last recorded beat.
    #[serde(default)]
    pub last_beat_at: Option<Timestamp>,
    /// While unhealthy: the deadline that passed.
    #[serde(default)]
    pub missed_at: Option<Timestamp>,
    /// While unhealthy: the incident the outage triggered.
    #[serde(default)]
    pub outage: Option<IncidentId>,
    /// Set when deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<Timestamp>,
}

/// What a beat decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Beat {
    /// Journal it: it changes the state (first beat, recovery), or the last recorded beat
    /// is a tenth of the interval old. Otherwise it is kept in memory only.
    pub record: bool,
    /// The outage incident to resolve first, if the heartbeat was unhealthy.
    pub resolve: Option<IncidentId>,
    /// When the next deadline falls.
    pub deadline: Timestamp,
}

/// Validates an interval: 1 s ..= 30 days.
pub fn parse_interval(field: &str, ms: i64) -> Result<u32, DomainError> {
    if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&ms) {
        return Err(DomainError::invalid(
            field,
            format!(
                "must be from 1 second ({MIN_INTERVAL_MS} ms) to 30 days ({MAX_INTERVAL_MS} ms), got {ms}"
            ),
        ));
    }
    u32::try_from(ms).map_err(|_| DomainError::invalid(field, "out of range"))
}

impl Heartbeat {
    /// Validates a new heartbeat; `token` is a fresh secret from the caller.
    pub fn new(
        id: HeartbeatId,
        name: &str,
        schedule_id: ScheduleId,
        interval_ms: i64,
        token: String,
        now: Timestamp,
        created_by: Actor,
    ) -> Result<Self, DomainError> {
        Ok(Self {
            id,
            name: text::name("name", name)?,
            schedule_id,
            interval_ms: parse_interval("intervalMs", interval_ms)?,
            token,
            created_at: now,
            created_by,
            last_beat_at: None,
            missed_at: None,
            outage: None,
            deleted_at: None,
        })
    }

    /// Where the heartbeat is.
    pub fn state(&self) -> HeartbeatState {
        match (self.last_beat_at, self.missed_at) {
            (None, _) => HeartbeatState::Inactive,
            (Some(_), Some(_)) => HeartbeatState::Unhealthy,
            (Some(_), None) => HeartbeatState::Healthy,
        }
    }

    fn interval(&self) -> Duration {
        Duration::milliseconds(i64::from(self.interval_ms))
    }

    /// The last beat, counting one kept in memory only (`unrecorded`).
    pub fn latest_beat(&self, unrecorded: Option<Timestamp>) -> Option<Timestamp> {
        self.last_beat_at.max(unrecorded)
    }

    /// When silence becomes an outage: the latest beat + the interval, while healthy. An
    /// inactive heartbeat has no deadline, an unhealthy one already missed it.
    pub fn deadline(&self, unrecorded: Option<Timestamp>) -> Option<Timestamp> {
        match self.state() {
            HeartbeatState::Healthy if self.deleted_at.is_none() => self
                .latest_beat(unrecorded)
                .map(|last| last + self.interval()),
            _ => None,
        }
    }

    /// A beat at `now`. It is journaled when it changes the state or when the last
    /// recorded beat is at least `interval / 10` old; the ones in between only move the
    /// in-memory deadline. So a healthy monitor costs at most ten journal writes per
    /// interval however often it beats, and a restart (which forgets unrecorded beats) can
    /// bring a deadline forward by less than a tenth of the interval, never push it back.
    pub fn beat(&self, now: Timestamp) -> Beat {
        let record = match (self.state(), self.last_beat_at) {
            (HeartbeatState::Healthy, Some(last)) => {
                now - last >= self.interval() / BEAT_RECORD_FRACTION
            }
            _ => true,
        };
        let resolve = match self.state() {
            HeartbeatState::Unhealthy => self.outage,
            _ => None,
        };
        Beat {
            record,
            resolve,
            deadline: now + self.interval(),
        }
    }

    /// Whether the timer armed for `deadline` is still the live one: the heartbeat is
    /// healthy, not deleted, and no later beat moved its deadline.
    pub fn missed(&self, deadline: Timestamp, unrecorded: Option<Timestamp>) -> bool {
        self.deadline(unrecorded) == Some(deadline)
    }

    /// The incident an outage opens: its title, description and the dedup key that makes
    /// a repeat of the same outage (a retry after a crash) fold into it.
    pub fn outage_incident(&self, deadline: Timestamp) -> (String, String, String) {
        let title = format!("Heartbeat {} missed", self.name);
        let title: String = title.chars().take(text::MAX_NAME_CHARS).collect();
        let last = self
            .last_beat_at
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_else(|| "never".into());
        let description = format!(
            "No beat for {} ms: the last beat was at {last}, the deadline {}.",
            self.interval_ms,
            deadline.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        );
        (title, description, format!("heartbeat:{}", self.id))
    }

    /// Who acts for the heartbeat: Klaxon itself, named after the heartbeat.
    pub fn actor(&self) -> Actor {
        Actor {
            kind: super::ActorKind::System,
            id: Some(self.id.0),
            name: format!("heartbeat {}", self.name).into(),
        }
    }

    /// Applies a recorded beat.
    pub fn record_beat(&mut self, at: Timestamp) {
        self.last_beat_at = self.last_beat_at.max(Some(at));
        self.missed_at = None;
        self.outage = None;
    }

    /// Applies a recorded miss.
    pub fn record_miss(
        &mut self,
        deadline: Timestamp,
        last_beat_at: Option<Timestamp>,
        outage: Option<IncidentId>,
    ) {
        self.last_beat_at = self.last_beat_at.max(last_beat_at);
        self.missed_at = Some(deadline);
        self.outage = outage;
    }
}

/// Whether `token` has the shape of a heartbeat token (checked before any lookup).
pub fn token_shape_ok(token: &str) -> bool {
    token.len() == TOKEN_CHARS && token.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn ms(n: i64) -> Duration {
        Duration::milliseconds(n)
    }

    fn heartbeat(interval_ms: i64) -> Heartbeat {
        Heartbeat::new(
            HeartbeatId::new(),
            "nightly backup",
            ScheduleId::new(),
            interval_ms,
            "0".repeat(TOKEN_CHARS),
            t0(),
            Actor::system(),
        )
        .unwrap()
    }

    #[test]
    fn a_heartbeat_that_never_beat_is_inactive_and_has_no_deadline() {
        let hb = heartbeat(60_000);
        assert_eq!(hb.state(), HeartbeatState::Inactive);
        assert_eq!(hb.deadline(None), None);
        assert!(!hb.missed(t0() + ms(60_000), None));
    }

    #[test]
    fn the_interval_is_one_second_to_thirty_days() {
        assert_eq!(MAX_INTERVAL_MS, 2_592_000_000);
        assert!(parse_interval("intervalMs", 999).is_err());
        assert!(parse_interval("intervalMs", 1_000).is_ok());
        assert!(parse_interval("intervalMs", MAX_INTERVAL_MS).is_ok());
        assert!(parse_interval("intervalMs", MAX_INTERVAL_MS + 1).is_err());
        assert!(parse_interval("intervalMs", -5).is_err());
    }

    #[test]
    fn the_name_is_validated() {
        let new = |name: &str| {
            Heartbeat::new(
                HeartbeatId::new(),
                name,
                ScheduleId::new(),
                60_000,
                String::new(),
                t0(),
                Actor::system(),
            )
        };
        assert!(new("  ").is_err());
        assert!(new(&"x".repeat(201)).is_err());
        assert!(new("ok").is_ok());
    }

    #[test]
    fn the_first_beat_is_recorded_and_sets_the_deadline() {
        let mut hb = heartbeat(60_000);
        let beat = hb.beat(t0());
        assert!(beat.record);
        assert_eq!(beat.deadline, t0() + ms(60_000));
        hb.record_beat(t0());
        assert_eq!(hb.state(), HeartbeatState::Healthy);
        assert_eq!(hb.deadline(None), Some(t0() + ms(60_000)));
    }

    #[test]
    fn beats_within_a_tenth_of_the_interval_are_not_recorded() {
        let mut hb = heartbeat(60_000);
        hb.record_beat(t0());
        let soon = hb.beat(t0() + ms(5_999));
        assert!(!soon.record);
        assert_eq!(soon.deadline, t0() + ms(65_999));
        assert_eq!(hb.deadline(Some(t0() + ms(5_999))), soon.deadline.into());
        assert!(hb.beat(t0() + ms(6_000)).record);
    }

    #[test]
    fn only_the_live_deadline_counts_as_missed() {
        let mut hb = heartbeat(1_000);
        hb.record_beat(t0());
        assert!(hb.missed(t0() + ms(1_000), None));
        // A later, unrecorded beat moved the deadline: the old timer is stale.
        assert!(!hb.missed(t0() + ms(1_000), Some(t0() + ms(50))));
        assert!(hb.missed(t0() + ms(1_050), Some(t0() + ms(50))));
    }

    #[test]
    fn a_miss_makes_it_unhealthy_and_the_next_beat_resolves_the_outage() {
        let mut hb = heartbeat(1_000);
        hb.record_beat(t0());
        let incident = IncidentId::new();
        hb.record_miss(t0() + ms(1_000), None, Some(incident));
        assert_eq!(hb.state(), HeartbeatState::Unhealthy);
        assert_eq!(hb.deadline(None), None);
        assert!(!hb.missed(t0() + ms(1_000), None), "never twice");
        let beat = hb.beat(t0() + ms(5_000));
        assert!(beat.record);
        assert_eq!(beat.resolve, Some(incident));
        hb.record_beat(t0() + ms(5_000));
        assert_eq!(hb.state(), HeartbeatState::Healthy);
        assert_eq!(hb.outage, None);
    }

    #[test]
    fn a_deleted_heartbeat_has_no_deadline() {
        let mut hb = heartbeat(1_000);
        hb.record_beat(t0());
        hb.deleted_at = Some(t0());
        assert_eq!(hb.deadline(None), None);
    }

    #[test]
    fn the_outage_incident_names_the_heartbeat() {
        let hb = heartbeat(1_000);
        let (title, _, key) = hb.outage_incident(t0());
        assert_eq!(title, "Heartbeat nightly backup missed");
        assert_eq!(key, format!("heartbeat:{}", hb.id));
    }

    #[test]
    fn token_shape_is_checked() {
        assert!(token_shape_ok(&"a1".repeat(16)));
        assert!(!token_shape_ok("short"));
        assert!(!token_shape_ok(&"z".repeat(32)));
    }
}
