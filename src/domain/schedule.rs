//! Schedules: who is on call when (explicit rotation entries), and the escalation policy
//! that says whom to page next when nobody answers.

use serde::{Deserialize, Serialize};

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

/// One level of an escalation policy: page `user_id`, wait `timeout_ms` for an acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationLevel {
    /// Who is paged at this level.
    pub user_id: UserId,
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
}

impl EscalationPolicy {
    /// The highest level an incident can reach.
    pub fn last_level(&self) -> u32 {
        self.levels.len() as u32
    }

    /// How long an incident may wait at `level` before escalating; `None` at the last
    /// level, where it stays.
    pub fn timeout_at(&self, level: u32) -> Option<u32> {
        if level >= self.last_level() {
            return None;
        }
        match level {
            0 => Some(self.initial_timeout_ms),
            k => self.levels.get(k as usize - 1).map(|l| l.timeout_ms),
        }
    }

    /// Who level `level` (>= 1) pages.
    pub fn user_at(&self, level: u32) -> Option<UserId> {
        let index = (level as usize).checked_sub(1)?;
        self.levels.get(index).map(|l| l.user_id)
    }

    /// Every user the policy names.
    pub fn users(&self) -> impl Iterator<Item = UserId> + '_ {
        self.levels.iter().map(|l| l.user_id)
    }
}

/// Who is on call for a service, and how to escalate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Stable id.
    pub id: ScheduleId,
    /// Display name.
    pub name: String,
    /// The service this schedule covers.
    pub service_id: ServiceId,
    /// Explicit shifts. Where entries overlap, the first in list order wins (as in the seed).
    pub rotation: Vec<RotationEntry>,
    /// Copied onto each incident at trigger time.
    pub escalation_policy: EscalationPolicy,
    /// Set when deleted (see [`super::User::deleted_at`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<Timestamp>,
}

impl Schedule {
    /// Who is on call at `at`: the user of the first rotation entry covering it.
    pub fn on_call(&self, at: Timestamp) -> Option<UserId> {
        self.rotation
            .iter()
            .find(|entry| entry.covers(at))
            .map(|entry| entry.user_id)
    }

    /// Every user the schedule refers to (rotation and escalation levels).
    pub fn users(&self) -> impl Iterator<Item = UserId> + '_ {
        self.rotation
            .iter()
            .map(|e| e.user_id)
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
    /// Raw user id.
    pub user_id: String,
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
}

/// Parses a user id and checks that it names a live user.
fn known_user(
    field: &str,
    raw: &str,
    user_exists: &dyn Fn(UserId) -> bool,
) -> Result<UserId, DomainError> {
    let id: UserId = raw
        .parse()
        .map_err(|_| DomainError::invalid(field, format!("'{}' is not a user id", clip_id(raw))))?;
    if !user_exists(id) {
        return Err(DomainError::not_found("user", id));
    }
    Ok(id)
}

fn clip_id(raw: &str) -> String {
    raw.chars().take(64).collect()
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

/// Validates an escalation policy: timeouts within 1 ms..=7 days, at most 20 known users.
pub fn parse_policy(
    input: &PolicyInput,
    user_exists: &dyn Fn(UserId) -> bool,
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
            Ok(EscalationLevel {
                user_id: known_user(&format!("{prefix}.userId"), &level.user_id, user_exists)?,
                timeout_ms: text::timeout_ms(&format!("{prefix}.timeoutMs"), level.timeout_ms)?,
            })
        })
        .collect::<Result<_, DomainError>>()?;
    Ok(EscalationPolicy {
        initial_timeout_ms,
        levels,
    })
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
            rotation,
            escalation_policy: EscalationPolicy {
                initial_timeout_ms: 1000,
                levels: vec![],
            },
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
                    user_id: UserId::new(),
                    timeout_ms: 200,
                },
                EscalationLevel {
                    user_id: UserId::new(),
                    timeout_ms: 300,
                },
            ],
        };
        assert_eq!(p.timeout_at(0), Some(100));
        assert_eq!(p.timeout_at(1), Some(200));
        assert_eq!(p.timeout_at(2), None);
        assert_eq!(p.user_at(0), None);
        assert_eq!(p.user_at(2), Some(p.levels[1].user_id));
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
            user_id: user.clone(),
            timeout_ms: ms,
        };
        let many = PolicyInput {
            initial_timeout_ms: 1000,
            levels: (0..21).map(|_| level(1000)).collect(),
        };
        assert!(parse_policy(&many, &|_| true).is_err());
        let absurd = PolicyInput {
            initial_timeout_ms: 1000,
            levels: vec![level(8 * 24 * 3_600_000)],
        };
        assert!(parse_policy(&absurd, &|_| true).is_err());
        let negative = PolicyInput {
            initial_timeout_ms: -1,
            levels: vec![],
        };
        assert!(parse_policy(&negative, &|_| true).is_err());
        let twenty = PolicyInput {
            initial_timeout_ms: 1000,
            levels: (0..20).map(|_| level(1000)).collect(),
        };
        assert_eq!(parse_policy(&twenty, &|_| true).unwrap().levels.len(), 20);
    }
}
