//! Schedules: who is on call when (explicit rotation entries), and the escalation policy
//! that says whom to page next when nobody answers.

use serde::{Deserialize, Serialize};

use super::oncall::{Rotation, ScheduleOverride};
use super::{DomainError, ScheduleId, ServiceId, Timestamp, UserId, text};

/// Most escalation levels a policy may have.
pub const MAX_ESCALATION_LEVELS: usize = 20;
/// Most explicit rotation entries a schedule may have.
pub const MAX_ROTATION_ENTRIES: usize = 5_000;

/// One explicit shift: `user` is on call from `start` (inclusive) to `end` (exclusive).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationEntry {
    /// Who is on call.
    pub user_id: UserId,
    /// First instant covered.
    pub start: Timestamp,
    /// First instant no longer covered; always after `start`.
    pub end: Timestamp,
}

impl RotationEntry {
    /// Whether this entry covers `at`: the start instant is covered, the end is not.
    pub fn covers(&self, at: Timestamp) -> bool {
        self.start <= at && at < self.end
    }
}

/// One level of an escalation policy: page a user (or whoever is on call for a schedule at
/// that moment), wait `timeout_ms` for an acknowledgement. Exactly one target is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationLevel {
    /// The user paged at this level.
    pub user_id: Option<UserId>,
    /// Or: the schedule whose on-call user is paged at this level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<ScheduleId>,
    /// How long the level waits before escalating further, 1 ms ..= 7 days.
    pub timeout_ms: u32,
}

/// How an unacknowledged incident climbs: level 0 is the on-call responder, who has
/// `initial_timeout_ms`; level k (1-based) is `levels[k - 1]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationPolicy {
    /// Time the on-call responder has before level 1 is paged.
    pub initial_timeout_ms: u32,
    /// The levels after the on-call responder, at most [`MAX_ESCALATION_LEVELS`].
    pub levels: Vec<EscalationLevel>,
    /// How many times, after the last level's timeout, the policy starts over at level 0
    /// (0 ..= [`MAX_REPEAT`]).
    #[serde(default)]
    pub repeat: u32,
    /// An acknowledged incident left unresolved this long returns to triggered.
    #[serde(default)]
    pub acknowledge_timeout_ms: Option<u32>,
}

/// Most times a policy may start over.
pub const MAX_REPEAT: i64 = 9;
/// Shortest acknowledge timeout (and snooze): one second.
pub const MIN_WAKE_MS: i64 = 1_000;

impl EscalationPolicy {
    /// The highest level an incident can reach.
    pub fn last_level(&self) -> u32 {
        self.levels.len() as u32
    }

    /// How long an incident may wait at `level` before escalating, after `loops` times
    /// round the policy; `None` at the last level once every repeat is spent (it stays).
    pub fn timeout_at(&self, level: u32, loops: u32) -> Option<u32> {
        if level > self.last_level() || (level == self.last_level() && loops >= self.repeat) {
            return None;
        }
        match level {
            0 => Some(self.initial_timeout_ms),
            k => self.levels.get(k as usize - 1).map(|l| l.timeout_ms),
        }
    }

    /// Level `level` (>= 1).
    pub fn level(&self, level: u32) -> Option<&EscalationLevel> {
        let index = (level as usize).checked_sub(1)?;
        self.levels.get(index)
    }

    /// Every user the policy names directly.
    pub fn users(&self) -> impl Iterator<Item = UserId> + '_ {
        self.levels.iter().filter_map(|l| l.user_id)
    }

    /// Every schedule the policy names.
    pub fn schedules(&self) -> impl Iterator<Item = ScheduleId> + '_ {
        self.levels.iter().filter_map(|l| l.schedule_id)
    }
}

/// Says whom an escalation level pages right now: its user, or the on-call user of its
/// schedule (resolved by the caller, who can see other schedules).
pub type LevelTarget<'a> = &'a dyn Fn(&EscalationLevel) -> Option<UserId>;

/// Who is on call for a service, and how to escalate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Stable id.
    pub id: ScheduleId,
    /// Display name.
    pub name: String,
    /// The service this schedule covers.
    pub service_id: ServiceId,
    /// The schedule's display zone (IANA), e.g. for calendars.
    #[serde(default = "utc")]
    pub time_zone: String,
    /// Explicit shifts. Where entries overlap, the first in list order wins (as in the seed).
    pub rotation: Vec<RotationEntry>,
    /// Recurring rotation layers; a later layer wins where both cover.
    #[serde(default)]
    pub rotations: Vec<Rotation>,
    /// Overrides; they beat every layer, a later one wins.
    #[serde(default)]
    pub overrides: Vec<ScheduleOverride>,
    /// Copied onto each incident at trigger time.
    pub escalation_policy: std::sync::Arc<EscalationPolicy>,
    /// The secret in the calendar feed's URL (calendar apps send no headers). `None` only
    /// for schedules journaled before feeds had keys; start-up gives those one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar_key: Option<String>,
    /// Set when deleted (see [`super::User::deleted_at`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<Timestamp>,
}

fn utc() -> String {
    "UTC".to_owned()
}

impl Schedule {
    /// Who is on call at `at`: overrides, then rotation layers, then explicit entries
    /// (see [`super::oncall`]).
    pub fn on_call(&self, at: Timestamp) -> Option<UserId> {
        self.resolve_at(at).map(|(user, _)| user)
    }

    /// Every user the schedule refers to (entries, rotations, overrides, levels).
    pub fn users(&self) -> impl Iterator<Item = UserId> + '_ {
        self.rotation
            .iter()
            .map(|e| e.user_id)
            .chain(
                self.rotations
                    .iter()
                    .flat_map(|r| r.participants.iter().copied()),
            )
            .chain(
                self.overrides
                    .iter()
                    .flat_map(|o| std::iter::once(o.user_id).chain(o.replaces)),
            )
            .chain(self.escalation_policy.users())
    }
}

/// A rotation entry as a client sent it.
#[derive(Clone, Debug)]
pub struct RotationInput {
    /// Raw user id.
    pub user_id: String,
    /// Start of the shift.
    pub start: Timestamp,
    /// End of the shift.
    pub end: Timestamp,
}

/// An escalation level as a client sent it.
#[derive(Clone, Debug)]
pub struct LevelInput {
    /// Raw user id (or empty when `schedule_id` is given).
    pub user_id: Option<String>,
    /// Raw schedule id: page whoever is on call there.
    pub schedule_id: Option<String>,
    /// Raw timeout.
    pub timeout_ms: i64,
}

/// An escalation policy as a client sent it.
#[derive(Clone, Debug)]
pub struct PolicyInput {
    /// Raw initial timeout.
    pub initial_timeout_ms: i64,
    /// Raw levels.
    pub levels: Vec<LevelInput>,
    /// Raw repeat count.
    pub repeat: i64,
    /// Raw acknowledge timeout.
    pub acknowledge_timeout_ms: Option<i64>,
}

/// Parses a user id and checks that it names a live user.
fn known_user(
    field: &str,
    raw: &str,
    user_exists: &dyn Fn(UserId) -> bool,
) -> Result<UserId, DomainError> {
    // A malformed id names nothing: NOT_FOUND, like an unknown one.
    let id: UserId = raw.parse().map_err(|e: DomainError| e.at(field))?;
    if !user_exists(id) {
        return Err(DomainError::not_found("user", id).at(field));
    }
    Ok(id)
}

/// Validates a rotation: bounded length, known users, each end after its start.
pub fn parse_rotation(
    input: &[RotationInput],
    user_exists: &dyn Fn(UserId) -> bool,
) -> Result<Vec<RotationEntry>, DomainError> {
    if input.len() > MAX_ROTATION_ENTRIES {
        return Err(DomainError::invalid(
            "rotation",
            format!(
                "at most {MAX_ROTATION_ENTRIES} entries (got {})",
                input.len()
            ),
        ));
    }
    input
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let user_id = known_user(
                &format!("rotation[{i}].userId"),
                &entry.user_id,
                user_exists,
            )?;
            if entry.end <= entry.start {
                return Err(DomainError::invalid(
                    format!("rotation[{i}].endTime"),
                    "must be after startTime",
                ));
            }
            Ok(RotationEntry {
                user_id,
                start: entry.start,
                end: entry.end,
            })
        })
        .collect()
}

/// Validates an escalation policy: timeouts within 1 ms..=7 days, at most 20 levels, each
/// naming a known user or a known schedule.
pub fn parse_policy(
    input: &PolicyInput,
    user_exists: &dyn Fn(UserId) -> bool,
    schedule_exists: &dyn Fn(ScheduleId) -> bool,
) -> Result<EscalationPolicy, DomainError> {
    let initial_timeout_ms = text::timeout_ms(
        "escalationPolicy.initialTimeoutMs",
        input.initial_timeout_ms,
    )?;
    if input.levels.len() > MAX_ESCALATION_LEVELS {
        return Err(DomainError::invalid(
            "escalationPolicy.escalationLevels",
            format!(
                "at most {MAX_ESCALATION_LEVELS} levels (got {})",
                input.levels.len()
            ),
        ));
    }
    let levels = input
        .levels
        .iter()
        .enumerate()
        .map(|(i, level)| {
            let prefix = format!("escalationPolicy.escalationLevels[{i}]");
            let (user_id, schedule_id) = match (&level.user_id, &level.schedule_id) {
                (Some(user), None) => (
                    Some(known_user(&format!("{prefix}.userId"), user, user_exists)?),
                    None,
                ),
                (None, Some(schedule)) => {
                    let field = format!("{prefix}.scheduleId");
                    let id: ScheduleId = schedule.parse().map_err(|e: DomainError| e.at(&field))?;
                    if !schedule_exists(id) {
                        return Err(DomainError::not_found("schedule", id).at(&field));
                    }
                    (None, Some(id))
                }
                _ => {
                    return Err(DomainError::invalid(
                        prefix,
                        "give exactly one of userId and scheduleId",
                    ));
                }
            };
            Ok(EscalationLevel {
                user_id,
                schedule_id,
                timeout_ms: text::timeout_ms(&format!("{prefix}.timeoutMs"), level.timeout_ms)?,
            })
        })
        .collect::<Result<_, DomainError>>()?;
    if !(0..=MAX_REPEAT).contains(&input.repeat) {
        return Err(DomainError::invalid(
            "escalationPolicy.repeat",
            format!("must be between 0 and {MAX_REPEAT} (got {})", input.repeat),
        ));
    }
    let acknowledge_timeout_ms = input
        .acknowledge_timeout_ms
        .map(|ms| wake_ms("escalationPolicy.acknowledgeTimeoutMs", ms))
        .transpose()?;
    Ok(EscalationPolicy {
        initial_timeout_ms,
        levels,
        repeat: input.repeat as u32,
        acknowledge_timeout_ms,
    })
}

/// A snooze or acknowledge timeout: 1 s ..= 7 days.
pub fn wake_ms(field: &str, ms: i64) -> Result<u32, DomainError> {
    if ms < MIN_WAKE_MS {
        return Err(DomainError::invalid(
            field,
            format!("must be at least 1 second ({MIN_WAKE_MS} ms), got {ms}"),
        ));
    }
    text::timeout_ms(field, ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn t(h: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 1, 1, h, 0, 0).unwrap()
    }

    fn schedule(rotation: Vec<RotationEntry>) -> Schedule {
        Schedule {
            id: ScheduleId::new(),
            name: "s".into(),
            service_id: ServiceId::new(),
            time_zone: "UTC".into(),
            rotation,
            rotations: vec![],
            overrides: vec![],
            escalation_policy: std::sync::Arc::new(EscalationPolicy {
                initial_timeout_ms: 1000,
                levels: vec![],
                repeat: 0,
                acknowledge_timeout_ms: None,
            }),
            calendar_key: None,
            deleted_at: None,
        }
    }

    #[test]
    fn rotation_entry_start_is_covered_end_is_not() {
        let alice = UserId::new();
        let s = schedule(vec![RotationEntry {
            user_id: alice,
            start: t(9),
            end: t(17),
        }]);
        assert_eq!(s.on_call(t(9)), Some(alice));
        assert_eq!(
            s.on_call(t(17) - chrono::Duration::milliseconds(1)),
            Some(alice)
        );
        assert_eq!(s.on_call(t(17)), None);
        assert_eq!(s.on_call(t(9) - chrono::Duration::milliseconds(1)), None);
    }

    #[test]
    fn back_to_back_entries_hand_off_at_the_boundary() {
        let (alice, bob) = (UserId::new(), UserId::new());
        let s = schedule(vec![
            RotationEntry {
                user_id: alice,
                start: t(0),
                end: t(12),
            },
            RotationEntry {
                user_id: bob,
                start: t(12),
                end: t(23),
            },
        ]);
        assert_eq!(s.on_call(t(11)), Some(alice));
        assert_eq!(s.on_call(t(12)), Some(bob));
    }

    #[test]
    fn overlapping_entries_first_in_list_wins() {
        let (alice, bob) = (UserId::new(), UserId::new());
        let s = schedule(vec![
            RotationEntry {
                user_id: alice,
                start: t(0),
                end: t(12),
            },
            RotationEntry {
                user_id: bob,
                start: t(6),
                end: t(18),
            },
        ]);
        assert_eq!(s.on_call(t(8)), Some(alice));
        assert_eq!(s.on_call(t(13)), Some(bob));
    }

    #[test]
    fn policy_timeouts_per_level_and_none_at_the_last() {
        let p = EscalationPolicy {
            initial_timeout_ms: 100,
            levels: vec![
                EscalationLevel {
                    user_id: Some(UserId::new()),
                    schedule_id: None,
                    timeout_ms: 200,
                },
                EscalationLevel {
                    user_id: Some(UserId::new()),
                    schedule_id: None,
                    timeout_ms: 300,
                },
            ],
            repeat: 0,
            acknowledge_timeout_ms: None,
        };
        assert_eq!(p.timeout_at(0, 0), Some(100));
        assert_eq!(p.timeout_at(1, 0), Some(200));
        assert_eq!(p.timeout_at(2, 0), None);
        // With a repeat left, the last level times out too (back to level 0).
        let repeating = EscalationPolicy {
            repeat: 2,
            ..p.clone()
        };
        assert_eq!(repeating.timeout_at(2, 0), Some(300));
        assert_eq!(repeating.timeout_at(2, 1), Some(300));
        assert_eq!(repeating.timeout_at(2, 2), None);
        assert_eq!(p.level(0), None);
        assert_eq!(p.level(2), Some(&p.levels[1]));
    }

    #[test]
    fn rotation_end_must_follow_start() {
        let alice = UserId::new();
        let input = [RotationInput {
            user_id: alice.to_string(),
            start: t(5),
            end: t(5),
        }];
        let err = parse_rotation(&input, &|_| true).unwrap_err();
        assert!(
            matches!(err, DomainError::Invalid { ref field, .. } if field == "rotation[0].endTime")
        );
    }

    #[test]
    fn rotation_user_must_exist() {
        let input = [RotationInput {
            user_id: UserId::new().to_string(),
            start: t(1),
            end: t(2),
        }];
        assert!(matches!(
            parse_rotation(&input, &|_| false),
            Err(DomainError::NotFound { kind: "user", .. })
        ));
    }

    #[test]
    fn policy_rejects_too_many_levels_and_absurd_timeouts() {
        let user = UserId::new().to_string();
        let level = |ms| LevelInput {
            user_id: Some(user.clone()),
            schedule_id: None,
            timeout_ms: ms,
        };
        let many = PolicyInput {
            initial_timeout_ms: 1000,
            levels: (0..21).map(|_| level(1000)).collect(),
            repeat: 0,
            acknowledge_timeout_ms: None,
        };
        assert!(parse_policy(&many, &|_| true, &|_| true).is_err());
        let absurd = PolicyInput {
            initial_timeout_ms: 1000,
            levels: vec![level(8 * 24 * 3_600_000)],
            repeat: 0,
            acknowledge_timeout_ms: None,
        };
        assert!(parse_policy(&absurd, &|_| true, &|_| true).is_err());
        let negative = PolicyInput {
            initial_timeout_ms: -1,
            levels: vec![],
            repeat: 0,
            acknowledge_timeout_ms: None,
        };
        assert!(parse_policy(&negative, &|_| true, &|_| true).is_err());
        for (repeat, ack) in [
            (10, None),
            (-1, None),
            (0, Some(999)),
            (0, Some(7 * 86_400_000 + 1)),
        ] {
            let bad = PolicyInput {
                initial_timeout_ms: 1000,
                levels: vec![],
                repeat,
                acknowledge_timeout_ms: ack,
            };
            assert!(
                parse_policy(&bad, &|_| true, &|_| true).is_err(),
                "{repeat} {ack:?}"
            );
        }
        let good = PolicyInput {
            initial_timeout_ms: 1000,
            levels: vec![],
            repeat: 9,
            acknowledge_timeout_ms: Some(1000),
        };
        let parsed = parse_policy(&good, &|_| true, &|_| true).unwrap();
        assert_eq!(
            (parsed.repeat, parsed.acknowledge_timeout_ms),
            (9, Some(1000))
        );
        let twenty = PolicyInput {
            initial_timeout_ms: 1000,
            levels: (0..20).map(|_| level(1000)).collect(),
            repeat: 0,
            acknowledge_timeout_ms: None,
        };
        assert_eq!(
            parse_policy(&twenty, &|_| true, &|_| true)
                .unwrap()
                .levels
                .len(),
            20
        );
    }
}
