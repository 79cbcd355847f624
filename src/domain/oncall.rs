//! Who is on call: recurring rotations in IANA time zones (layers), overrides, the
//! schedule's explicit rotation entries, and the rendered timeline of shifts.
//!
//! Precedence, highest first: overrides (a later one wins), rotations (a later layer wins
//! where both cover), explicit entries (the first covering entry wins). `on_call`,
//! `shifts` and `next_change` all come from [`Schedule::resolve_at`], so they always agree.
//! Pure: every function takes the instant it answers for.
//!
//! Daylight saving: `DAY` and `WEEK` rotations hand off at the same local wall-clock time
//! in their zone (09:00 Europe/Berlin is 08:00Z in winter, 07:00Z in summer); `HOUR`
//! counts real elapsed hours. A local handoff time that does not exist (spring forward)
//! hands off at the first instant after the gap; one that happens twice (fall back) hands
//! off at its first occurrence.

use chrono::{
    Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::{DomainError, OverrideId, RotationId, Schedule, Timestamp, UserId, text};

/// Longest window `shifts` and `coverage_gaps` render in one call.
pub const MAX_WINDOW_DAYS: i64 = 366;
/// Most participants in one rotation.
pub const MAX_PARTICIPANTS: usize = 100;
/// Most rotation layers in one schedule.
pub const MAX_ROTATIONS: usize = 20;
/// Most overrides in one schedule.
pub const MAX_OVERRIDES: usize = 1_000;

/// The unit of a rotation's shift length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShiftUnit {
    /// Real elapsed hours.
    Hour,
    /// Calendar days, handing off at the same local time.
    Day,
    /// Calendar weeks, handing off at the same local time and weekday.
    Week,
}

impl ShiftUnit {
    /// Longest shift length accepted per unit (a year).
    fn max_length(self) -> u32 {
        match self {
            Self::Hour => 24 * 366,
            Self::Day => 366,
            Self::Week => 53,
        }
    }
}

/// Limits a rotation to some weekdays and clock hours (local to the rotation's zone).
/// Outside them the rotation covers nothing and lower layers show through.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restriction {
    /// Days whose window applies; empty means every day.
    pub weekdays: Vec<Weekday>,
    /// Window start, local time.
    pub start: NaiveTime,
    /// Window end, local time; at or before `start` means the window runs past midnight
    /// (equal: a full 24 hours).
    pub end: NaiveTime,
}

/// A recurring rotation: participants take turns, `shift_length` units each, from `start`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    /// Stable id.
    pub id: RotationId,
    /// Display name.
    pub name: String,
    /// IANA zone the handoffs are kept in.
    pub time_zone: String,
    /// The first handoff: participant 0 starts here.
    pub start: Timestamp,
    /// Shift length in `shift_unit`s, at least 1.
    pub shift_length: u32,
    /// Unit of `shift_length`.
    pub shift_unit: ShiftUnit,
    /// Who takes turns, in order.
    pub participants: Vec<UserId>,
    /// Optional weekday / clock-hour window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restriction: Option<Restriction>,
}

/// Someone covers `start..end` instead of whoever the layers say (only instead of
/// `replaces`, when given).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleOverride {
    /// Stable id.
    pub id: OverrideId,
    /// Who is on call instead.
    pub user_id: UserId,
    /// First instant covered.
    pub start: Timestamp,
    /// First instant no longer covered.
    pub end: Timestamp,
    /// Only override this user's shifts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<UserId>,
}

impl ScheduleOverride {
    fn covers(&self, at: Timestamp) -> bool {
        self.start <= at && at < self.end
    }
}

/// Which layer decided who is on call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShiftSource {
    /// An override.
    Override(OverrideId),
    /// A rotation layer.
    Rotation(RotationId),
    /// An explicit rotation entry.
    Entry,
}

/// One stretch of the rendered timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shift {
    /// Who is on call.
    pub user_id: UserId,
    /// From (inclusive).
    pub start: Timestamp,
    /// To (exclusive).
    pub end: Timestamp,
    /// Which layer put them there.
    pub source: ShiftSource,
}

/// A stretch with nobody on call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// From (inclusive).
    pub start: Timestamp,
    /// To (exclusive).
    pub end: Timestamp,
}

/// Parses an IANA zone name.
pub fn parse_time_zone(field: &str, raw: &str) -> Result<Tz, DomainError> {
    raw.trim().parse::<Tz>().map_err(|_| {
        DomainError::invalid(
            field,
            format!(
                "'{}' is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)",
                raw.chars().take(64).collect::<String>()
            ),
        )
    })
}

/// The instant a local wall-clock time names in `tz`: the first occurrence when it
/// happens twice, the first instant after the gap when it does not exist.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> Option<Timestamp> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => Some(at.to_utc()),
        LocalResult::Ambiguous(a, b) => Some(a.to_utc().min(b.to_utc())),
        LocalResult::None => {
            // Transitions fall on whole minutes; no gap is longer than a day.
            let mut probe = local;
            for _ in 0..(24 * 60) {
                probe = probe.checked_add_signed(Duration::minutes(1))?;
                if let Some(at) = tz.from_local_datetime(&probe).earliest() {
                    return Some(at.to_utc());
                }
            }
            None
        }
    }
}

impl Rotation {
    /// The rotation's zone (validated on the way in; UTC if a stored name ever fails).
    pub fn tz(&self) -> Tz {
        self.time_zone.parse().unwrap_or(Tz::UTC)
    }

    fn period(&self) -> Duration {
        let n = i64::from(self.shift_length.max(1));
        match self.shift_unit {
            ShiftUnit::Hour => Duration::hours(n),
            ShiftUnit::Day => Duration::days(n),
            ShiftUnit::Week => Duration::weeks(n),
        }
    }

    /// The instant of the `k`-th handoff (`k = 0` is `start`).
    pub fn handoff(&self, k: i64) -> Option<Timestamp> {
        if k == 0 {
            return Some(self.start);
        }
        let offset = self.period().checked_mul(i32::try_from(k).ok()?)?;
        match self.shift_unit {
            ShiftUnit::Hour => self.start.checked_add_signed(offset),
            ShiftUnit::Day | ShiftUnit::Week => {
                let tz = self.tz();
                let local = self.start.with_timezone(&tz).naive_local();
                resolve_local(tz, local.checked_add_signed(offset)?)
            }
        }
    }

    /// The index of the shift covering `at` (before `start`: none).
    pub fn shift_index(&self, at: Timestamp) -> Option<i64> {
        if at < self.start {
            return None;
        }
        let period_ms = self.period().num_milliseconds().max(1);
        let mut k = (at - self.start).num_milliseconds() / period_ms;
        // Daylight saving moves local handoffs by hours at most: a step or two corrects it.
        for _ in 0..4 {
            if self.handoff(k)? > at {
                k -= 1;
            } else if self.handoff(k + 1)? <= at {
                k += 1;
            } else {
                return Some(k.max(0));
            }
        }
        Some(k.max(0))
    }

    /// Whether the restriction (if any) allows `at`.
    pub fn allows(&self, at: Timestamp) -> bool {
        let Some(r) = &self.restriction else {
            return true;
        };
        let tz = self.tz();
        let today = at.with_timezone(&tz).date_naive();
        [today.pred_opt(), Some(today)]
            .into_iter()
            .flatten()
            .filter_map(|day| r.window(tz, day))
            .any(|(start, end)| start <= at && at < end)
    }

    /// Who this layer puts on call at `at`, if it covers it.
    pub fn user_at(&self, at: Timestamp) -> Option<UserId> {
        if self.participants.is_empty() || !self.allows(at) {
            return None;
        }
        let k = self.shift_index(at)?;
        let n = self.participants.len() as i64;
        self.participants.get(k.rem_euclid(n) as usize).copied()
    }

    /// Every instant in `(from, to)` where this layer may change hands.
    fn boundaries(&self, from: Timestamp, to: Timestamp, out: &mut Vec<Timestamp>) {
        if self.start > from && self.start < to {
            out.push(self.start);
        }
        let mut k = self.shift_index(from).unwrap_or(0);
        while let Some(at) = self.handoff(k) {
            if at >= to {
                break;
            }
            if at > from {
                out.push(at);
            }
            k += 1;
        }
        if let Some(r) = &self.restriction {
            let tz = self.tz();
            let mut day = from
                .with_timezone(&tz)
                .date_naive()
                .pred_opt()
                .unwrap_or(NaiveDate::MIN);
            let last = to.with_timezone(&tz).date_naive();
            while day <= last {
                if let Some((start, end)) = r.window(tz, day) {
                    out.extend([start, end].into_iter().filter(|at| *at > from && *at < to));
                }
                let Some(next) = day.succ_opt() else { break };
                day = next;
            }
        }
    }
}

impl Restriction {
    /// The window opening on local `day`, as instants, if `day` is one of the weekdays.
    fn window(&self, tz: Tz, day: NaiveDate) -> Option<(Timestamp, Timestamp)> {
        if !self.weekdays.is_empty() && !self.weekdays.contains(&day.weekday()) {
            return None;
        }
        let start = resolve_local(tz, day.and_time(self.start))?;
        let end_day = if self.end <= self.start {
            day.succ_opt()?
        } else {
            day
        };
        let end = resolve_local(tz, end_day.and_time(self.end))?;
        Some((start, end))
    }
}

impl Schedule {
    /// Who is on call at `at`, and which layer says so.
    pub fn resolve_at(&self, at: Timestamp) -> Option<(UserId, ShiftSource)> {
        let base = self
            .rotations
            .iter()
            .rev()
            .find_map(|r| r.user_at(at).map(|u| (u, ShiftSource::Rotation(r.id))))
            .or_else(|| {
                self.rotation
                    .iter()
                    .find(|e| e.covers(at))
                    .map(|e| (e.user_id, ShiftSource::Entry))
            });
        let over =
            self.overrides.iter().rev().find(|o| {
                o.covers(at) && o.replaces.is_none_or(|r| base.is_some_and(|(u, _)| u == r))
            });
        match over {
            Some(o) => Some((o.user_id, ShiftSource::Override(o.id))),
            None => base,
        }
    }

    /// Every instant in `(from, to)` where the answer may change.
    fn boundaries(&self, from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
        let mut out = vec![from, to];
        let mut inside = |at: Timestamp| {
            if at > from && at < to {
                out.push(at);
            }
        };
        for e in &self.rotation {
            inside(e.start);
            inside(e.end);
        }
        for o in &self.overrides {
            inside(o.start);
            inside(o.end);
        }
        for r in &self.rotations {
            r.boundaries(from, to, &mut out);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Checks a `shifts` / `coverageGaps` window: `to` after `from`, at most 366 days.
    pub fn check_window(from: Timestamp, to: Timestamp) -> Result<(), DomainError> {
        if to <= from {
            return Err(DomainError::invalid("to", "must be after from"));
        }
        if to - from > Duration::days(MAX_WINDOW_DAYS) {
            return Err(DomainError::invalid(
                "to",
                format!("the window is at most {MAX_WINDOW_DAYS} days; ask for several windows"),
            ));
        }
        Ok(())
    }

    /// The final timeline over `from..to`: who is on call when, adjacent stretches of the
    /// same user from the same layer merged. Never overlapping, in order.
    pub fn shifts(&self, from: Timestamp, to: Timestamp) -> Vec<Shift> {
        let mut shifts: Vec<Shift> = Vec::new();
        let bounds = self.boundaries(from, to);
        for pair in bounds.windows(2) {
            let (start, end) = (pair[0], pair[1]);
            let Some((user_id, source)) = self.resolve_at(start) else {
                continue;
            };
            match shifts.last_mut() {
                Some(last)
                    if last.end == start && last.user_id == user_id && last.source == source =>
                {
                    last.end = end;
                }
                _ => shifts.push(Shift {
                    user_id,
                    start,
                    end,
                    source,
                }),
            }
        }
        shifts
    }

    /// The stretches of `from..to` with nobody on call.
    pub fn coverage_gaps(&self, from: Timestamp, to: Timestamp) -> Vec<Gap> {
        let mut gaps = Vec::new();
        let mut cursor = from;
        for shift in self.shifts(from, to) {
            if shift.start > cursor {
                gaps.push(Gap {
                    start: cursor,
                    end: shift.start,
                });
            }
            cursor = shift.end;
        }
        if cursor < to {
            gaps.push(Gap {
                start: cursor,
                end: to,
            });
        }
        gaps
    }

    /// The first instant after `after` (within a year) where the on-call user changes.
    pub fn next_change(&self, after: Timestamp) -> Option<Timestamp> {
        let current = self.on_call(after);
        let mut from = after;
        for days in [2, 30, MAX_WINDOW_DAYS] {
            let to = after.checked_add_signed(Duration::days(days))?;
            for at in self.boundaries(from, to) {
                if at > after && self.on_call(at) != current {
                    return Some(at);
                }
            }
            from = to;
        }
        None
    }

    /// Who is on call at `at`, or (in a gap) whoever is on call next within a year.
    pub fn on_call_or_next(&self, at: Timestamp) -> Option<UserId> {
        self.on_call(at)
            .or_else(|| self.next_change(at).and_then(|next| self.on_call(next)))
    }

    /// The rendered shift covering `at`, with its true start and end (up to half the
    /// longest window either way). Renders a growing window around `at`, so the common case
    /// (shifts of hours or days) costs a two-day render, not a year.
    pub fn shift_at(&self, at: Timestamp) -> Option<Shift> {
        let reach = [1, 7, 31, MAX_WINDOW_DAYS / 2];
        for (i, days) in reach.iter().enumerate() {
            let span = Duration::days(*days);
            let (from, to) = (at.checked_sub_signed(span)?, at.checked_add_signed(span)?);
            let shift = self
                .shifts(from, to)
                .into_iter()
                .find(|s| s.start <= at && at < s.end)?;
            let widest = i + 1 == reach.len();
            if widest || (shift.start > from && shift.end < to) {
                return Some(shift);
            }
        }
        None
    }
}

/// A rotation as a client sent it.
#[derive(Clone, Debug)]
pub struct RotationDraft {
    /// Display name.
    pub name: String,
    /// IANA zone name.
    pub time_zone: String,
    /// First handoff.
    pub start: Timestamp,
    /// Shift length.
    pub shift_length: i64,
    /// Unit.
    pub shift_unit: ShiftUnit,
    /// Raw participant ids, in order.
    pub participants: Vec<String>,
    /// Optional window.
    pub restriction: Option<Restriction>,
}

impl RotationDraft {
    /// Validates into a rotation with id `id`.
    pub fn parse(
        &self,
        id: RotationId,
        user_exists: &dyn Fn(UserId) -> bool,
    ) -> Result<Rotation, DomainError> {
        let name = text::name("name", &self.name)?;
        parse_time_zone("timeZone", &self.time_zone)?;
        let max = self.shift_unit.max_length();
        if self.shift_length < 1 || self.shift_length > i64::from(max) {
            return Err(DomainError::invalid(
                "shiftLength",
                format!("must be between 1 and {max} (got {})", self.shift_length),
            ));
        }
        if self.participants.is_empty() {
            return Err(DomainError::invalid(
                "participants",
                "must name at least one user",
            ));
        }
        if self.participants.len() > MAX_PARTICIPANTS {
            return Err(DomainError::invalid(
                "participants",
                format!(
                    "at most {MAX_PARTICIPANTS} users (got {})",
                    self.participants.len()
                ),
            ));
        }
        let participants = self
            .participants
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                let field = format!("participants[{i}]");
                let id: UserId = raw.parse().map_err(|e: DomainError| e.at(&field))?;
                if user_exists(id) {
                    Ok(id)
                } else {
                    Err(DomainError::not_found("user", id).at(field))
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Rotation {
            id,
            name,
            time_zone: self.time_zone.trim().to_owned(),
            start: self.start,
            shift_length: self.shift_length as u32,
            shift_unit: self.shift_unit,
            participants,
            restriction: self.restriction.clone(),
        })
    }
}

/// Parses a `HH:MM` clock time.
pub fn parse_clock(field: &str, raw: &str) -> Result<NaiveTime, DomainError> {
    NaiveTime::parse_from_str(raw.trim(), "%H:%M")
        .map_err(|_| DomainError::invalid(field, "must be a 24-hour clock time such as 09:00"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EscalationPolicy, RotationEntry, ScheduleId, ServiceId};
    use chrono::Utc;
    use proptest::prelude::*;

    fn utc(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn schedule() -> Schedule {
        Schedule {
            id: ScheduleId::new(),
            name: "s".into(),
            service_id: ServiceId::new(),
            time_zone: "UTC".into(),
            rotation: vec![],
            rotations: vec![],
            overrides: vec![],
            escalation_policy: std::sync::Arc::new(EscalationPolicy {
                initial_timeout_ms: 1,
                levels: vec![],
                repeat: 0,
                acknowledge_timeout_ms: None,
            }),
            calendar_key: None,
            deleted_at: None,
        }
    }

    fn rotation(tz: &str, start: &str, len: u32, unit: ShiftUnit, people: &[UserId]) -> Rotation {
        Rotation {
            id: RotationId::new(),
            name: "r".into(),
            time_zone: tz.into(),
            start: utc(start),
            shift_length: len,
            shift_unit: unit,
            participants: people.to_vec(),
            restriction: None,
        }
    }

    fn users(n: usize) -> Vec<UserId> {
        (0..n).map(|_| UserId::new()).collect()
    }

    #[test]
    fn participants_cycle_in_order() {
        let p = users(3);
        let r = rotation("UTC", "2026-01-05T09:00:00Z", 1, ShiftUnit::Day, &p);
        let seen: Vec<_> = (0..7)
            .map(|d| {
                r.user_at(utc("2026-01-05T10:00:00Z") + Duration::days(d))
                    .unwrap()
            })
            .collect();
        assert_eq!(seen, vec![p[0], p[1], p[2], p[0], p[1], p[2], p[0]]);
        assert_eq!(
            r.user_at(utc("2026-01-05T08:59:59Z")),
            None,
            "nothing before the start"
        );
    }

    #[test]
    fn handoff_keeps_local_time_across_dst_in_berlin() {
        // 09:00 Berlin: 08:00Z in winter (CET), 07:00Z in summer (CEST).
        let r = rotation(
            "Europe/Berlin",
            "2026-03-27T08:00:00Z",
            1,
            ShiftUnit::Day,
            &users(2),
        );
        assert_eq!(r.handoff(1), Some(utc("2026-03-28T08:00:00Z")));
        assert_eq!(
            r.handoff(2),
            Some(utc("2026-03-29T07:00:00Z")),
            "spring forward on the 29th"
        );
        let autumn = rotation(
            "Europe/Berlin",
            "2026-10-24T07:00:00Z",
            1,
            ShiftUnit::Day,
            &users(2),
        );
        assert_eq!(
            autumn.handoff(1),
            Some(utc("2026-10-25T08:00:00Z")),
            "fall back on the 25th"
        );
    }

    #[test]
    fn handoff_keeps_local_time_across_dst_in_new_york() {
        // 09:00 New York: 14:00Z in EST, 13:00Z in EDT (switches 2026-03-08 and 2026-11-01).
        let r = rotation(
            "America/New_York",
            "2026-03-07T14:00:00Z",
            1,
            ShiftUnit::Day,
            &users(2),
        );
        assert_eq!(r.handoff(1), Some(utc("2026-03-08T13:00:00Z")));
        let autumn = rotation(
            "America/New_York",
            "2026-10-31T13:00:00Z",
            1,
            ShiftUnit::Day,
            &users(2),
        );
        assert_eq!(autumn.handoff(1), Some(utc("2026-11-01T14:00:00Z")));
    }

    #[test]
    fn handoff_keeps_local_time_across_dst_in_sydney() {
        // 09:00 Sydney: 22:00Z the day before in AEDT (+11), 23:00Z in AEST (+10).
        // DST ends 2026-04-05 03:00 local, starts 2026-10-04 02:00 local.
        let r = rotation(
            "Australia/Sydney",
            "2026-04-03T22:00:00Z",
            1,
            ShiftUnit::Day,
            &users(2),
        );
        assert_eq!(
            r.handoff(1),
            Some(utc("2026-04-04T23:00:00Z")),
            "09:00 AEST on the 5th"
        );
        assert_eq!(r.handoff(2), Some(utc("2026-04-05T23:00:00Z")));
        let spring = rotation(
            "Australia/Sydney",
            "2026-10-02T23:00:00Z",
            1,
            ShiftUnit::Day,
            &users(2),
        );
        assert_eq!(
            spring.handoff(1),
            Some(utc("2026-10-03T22:00:00Z")),
            "09:00 AEDT on the 4th"
        );
    }

    #[test]
    fn weekly_handoff_keeps_local_time_across_dst() {
        let r = rotation(
            "Europe/Berlin",
            "2026-03-23T08:00:00Z",
            1,
            ShiftUnit::Week,
            &users(2),
        );
        assert_eq!(r.handoff(1), Some(utc("2026-03-30T07:00:00Z")));
    }

    #[test]
    fn hourly_rotation_counts_real_hours_across_dst() {
        let r = rotation(
            "Europe/Berlin",
            "2026-03-29T00:00:00Z",
            1,
            ShiftUnit::Hour,
            &users(2),
        );
        assert_eq!(r.handoff(3), Some(utc("2026-03-29T03:00:00Z")));
    }

    #[test]
    fn nonexistent_local_handoff_is_the_first_instant_after_the_gap() {
        // 02:30 Berlin does not exist on 2026-03-29 (02:00 → 03:00 CEST = 01:00Z).
        let r = rotation(
            "Europe/Berlin",
            "2026-03-28T01:30:00Z",
            1,
            ShiftUnit::Day,
            &users(2),
        );
        assert_eq!(r.handoff(1), Some(utc("2026-03-29T01:00:00Z")));
        assert_eq!(
            r.handoff(2),
            Some(utc("2026-03-30T00:30:00Z")),
            "then 02:30 CEST again"
        );
    }

    #[test]
    fn repeated_local_handoff_is_its_first_occurrence() {
        // 02:30 Berlin happens twice on 2026-10-25: first at 00:30Z (CEST), then 01:30Z.
        let r = rotation(
            "Europe/Berlin",
            "2026-10-24T00:30:00Z",
            1,
            ShiftUnit::Day,
            &users(2),
        );
        assert_eq!(r.handoff(1), Some(utc("2026-10-25T00:30:00Z")));
    }

    #[test]
    fn later_layer_wins_and_lower_shows_through_its_restriction() {
        let (day, night) = (users(1), users(1));
        let mut s = schedule();
        s.rotations.push(rotation(
            "UTC",
            "2026-01-01T00:00:00Z",
            1,
            ShiftUnit::Week,
            &night,
        ));
        let mut office = rotation("UTC", "2026-01-01T00:00:00Z", 1, ShiftUnit::Week, &day);
        office.restriction = Some(Restriction {
            weekdays: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
        });
        s.rotations.push(office);
        // 2026-01-05 is a Monday.
        assert_eq!(s.on_call(utc("2026-01-05T10:00:00Z")), Some(day[0]));
        assert_eq!(s.on_call(utc("2026-01-05T17:00:00Z")), Some(night[0]));
        assert_eq!(
            s.on_call(utc("2026-01-10T10:00:00Z")),
            Some(night[0]),
            "Saturday"
        );
    }

    #[test]
    fn overrides_beat_layers_and_replaces_limits_them() {
        let p = users(2);
        let cover = UserId::new();
        let mut s = schedule();
        s.rotations.push(rotation(
            "UTC",
            "2026-01-01T00:00:00Z",
            1,
            ShiftUnit::Day,
            &p,
        ));
        s.overrides.push(ScheduleOverride {
            id: OverrideId::new(),
            user_id: cover,
            start: utc("2026-01-01T00:00:00Z"),
            end: utc("2026-01-03T00:00:00Z"),
            replaces: Some(p[1]),
        });
        assert_eq!(
            s.on_call(utc("2026-01-01T12:00:00Z")),
            Some(p[0]),
            "not p1's shift"
        );
        assert_eq!(s.on_call(utc("2026-01-02T12:00:00Z")), Some(cover));
        assert_eq!(s.on_call(utc("2026-01-03T12:00:00Z")), Some(p[0]));
    }

    #[test]
    fn rotations_beat_explicit_entries() {
        let (a, b) = (UserId::new(), UserId::new());
        let mut s = schedule();
        s.rotation.push(RotationEntry {
            user_id: a,
            start: utc("2026-01-01T00:00:00Z"),
            end: utc("2026-02-01T00:00:00Z"),
        });
        s.rotations.push(rotation(
            "UTC",
            "2026-01-10T00:00:00Z",
            1,
            ShiftUnit::Week,
            &[b],
        ));
        assert_eq!(s.on_call(utc("2026-01-05T00:00:00Z")), Some(a));
        assert_eq!(s.on_call(utc("2026-01-15T00:00:00Z")), Some(b));
    }

    #[test]
    fn shifts_merge_and_gaps_are_the_rest() {
        let a = UserId::new();
        let mut s = schedule();
        s.rotation.push(RotationEntry {
            user_id: a,
            start: utc("2026-01-01T00:00:00Z"),
            end: utc("2026-01-02T00:00:00Z"),
        });
        s.rotation.push(RotationEntry {
            user_id: a,
            start: utc("2026-01-02T00:00:00Z"),
            end: utc("2026-01-03T00:00:00Z"),
        });
        let shifts = s.shifts(utc("2025-12-31T00:00:00Z"), utc("2026-01-04T00:00:00Z"));
        assert_eq!(shifts.len(), 1, "{shifts:?}");
        assert_eq!(
            (shifts[0].start, shifts[0].end),
            (utc("2026-01-01T00:00:00Z"), utc("2026-01-03T00:00:00Z"))
        );
        let gaps = s.coverage_gaps(utc("2025-12-31T00:00:00Z"), utc("2026-01-04T00:00:00Z"));
        assert_eq!(gaps.len(), 2);
        assert_eq!(
            gaps[1],
            Gap {
                start: utc("2026-01-03T00:00:00Z"),
                end: utc("2026-01-04T00:00:00Z")
            }
        );
    }

    #[test]
    fn shift_at_finds_the_whole_covering_shift() {
        let p = users(2);
        let mut s = schedule();
        s.rotations.push(rotation(
            "UTC",
            "2026-01-01T09:00:00Z",
            2,
            ShiftUnit::Week,
            &p,
        ));
        let shift = s.shift_at(utc("2026-01-20T12:00:00Z")).unwrap();
        assert_eq!(shift.user_id, p[1]);
        // A two-week shift: wider than the first windows tried.
        assert_eq!(
            (shift.start, shift.end),
            (utc("2026-01-15T09:00:00Z"), utc("2026-01-29T09:00:00Z"))
        );
        assert_eq!(s.shift_at(utc("2025-12-31T00:00:00Z")), None);
    }

    #[test]
    fn on_call_or_next_looks_past_a_gap() {
        let a = UserId::new();
        let mut s = schedule();
        s.rotation.push(RotationEntry {
            user_id: a,
            start: utc("2026-02-01T00:00:00Z"),
            end: utc("2026-02-02T00:00:00Z"),
        });
        assert_eq!(s.on_call_or_next(utc("2026-01-20T00:00:00Z")), Some(a));
        assert_eq!(s.on_call_or_next(utc("2026-03-01T00:00:00Z")), None);
    }

    #[test]
    fn window_is_checked() {
        let t = utc("2026-01-01T00:00:00Z");
        assert!(Schedule::check_window(t, t).is_err());
        assert!(Schedule::check_window(t, t + Duration::days(367)).is_err());
        assert!(Schedule::check_window(t, t + Duration::days(366)).is_ok());
    }

    #[test]
    fn next_change_finds_the_next_handoff() {
        let p = users(2);
        let mut s = schedule();
        s.rotations.push(rotation(
            "UTC",
            "2026-01-01T09:00:00Z",
            1,
            ShiftUnit::Day,
            &p,
        ));
        assert_eq!(
            s.next_change(utc("2026-01-01T10:00:00Z")),
            Some(utc("2026-01-02T09:00:00Z"))
        );
        let solo = {
            let mut s = schedule();
            s.rotations.push(rotation(
                "UTC",
                "2026-01-01T09:00:00Z",
                1,
                ShiftUnit::Day,
                &p[..1],
            ));
            s
        };
        assert_eq!(
            solo.next_change(utc("2026-01-01T10:00:00Z")),
            None,
            "one person: no change"
        );
    }

    #[test]
    fn draft_validation() {
        let draft = RotationDraft {
            name: "r".into(),
            time_zone: "Mars/Olympus".into(),
            start: Utc::now(),
            shift_length: 1,
            shift_unit: ShiftUnit::Day,
            participants: vec![UserId::new().to_string()],
            restriction: None,
        };
        assert!(draft.parse(RotationId::new(), &|_| true).is_err());
        let ok = RotationDraft {
            time_zone: "Europe/Berlin".into(),
            ..draft.clone()
        };
        assert!(ok.parse(RotationId::new(), &|_| true).is_ok());
        assert!(
            RotationDraft {
                shift_length: 0,
                ..ok.clone()
            }
            .parse(RotationId::new(), &|_| true)
            .is_err()
        );
        assert!(
            RotationDraft {
                participants: vec![],
                ..ok.clone()
            }
            .parse(RotationId::new(), &|_| true)
            .is_err()
        );
        assert!(matches!(
            ok.parse(RotationId::new(), &|_| false),
            Err(DomainError::NotFound { .. })
        ));
    }

    // ---- properties -------------------------------------------------------------------

    const ZONES: [&str; 4] = [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Australia/Sydney",
    ];
    const BASE: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn at(secs: i64) -> Timestamp {
        Utc.timestamp_opt(BASE + secs, 0).unwrap()
    }

    fn arb_unit() -> impl Strategy<Value = ShiftUnit> {
        prop_oneof![
            Just(ShiftUnit::Hour),
            Just(ShiftUnit::Day),
            Just(ShiftUnit::Week)
        ]
    }

    prop_compose! {
        fn arb_rotation(people: Vec<UserId>)(
            zone in 0..ZONES.len(),
            start in 0i64..(400 * 86_400),
            len in 1u32..5,
            unit in arb_unit(),
            picks in proptest::collection::vec(0..people.len(), 1..4),
            restricted in any::<bool>(),
            from_h in 0u32..24,
            to_h in 0u32..24,
        ) -> Rotation {
            Rotation {
                id: RotationId::new(),
                name: "r".into(),
                time_zone: ZONES[zone].into(),
                start: at(start),
                shift_length: len,
                shift_unit: unit,
                participants: picks.iter().map(|i| people[*i]).collect(),
                restriction: restricted.then(|| Restriction {
                    weekdays: vec![Weekday::Mon, Weekday::Wed, Weekday::Sat],
                    start: NaiveTime::from_hms_opt(from_h, 0, 0).unwrap(),
                    end: NaiveTime::from_hms_opt(to_h, 30, 0).unwrap(),
                }),
            }
        }
    }

    fn arb_schedule() -> impl Strategy<Value = Schedule> {
        let people = users(4);
        let rotations = proptest::collection::vec(arb_rotation(people.clone()), 0..4);
        let overrides = proptest::collection::vec(
            (
                0..4usize,
                0i64..(400 * 86_400),
                1i64..(3 * 86_400),
                proptest::option::of(0..4usize),
            ),
            0..6,
        );
        let entries =
            proptest::collection::vec((0..4usize, 0i64..(400 * 86_400), 1i64..(10 * 86_400)), 0..4);
        (rotations, overrides, entries).prop_map(move |(rotations, overrides, entries)| {
            let mut s = schedule();
            s.rotations = rotations;
            s.overrides = overrides
                .into_iter()
                .map(|(u, start, len, replaces)| ScheduleOverride {
                    id: OverrideId::new(),
                    user_id: people[u],
                    start: at(start),
                    end: at(start + len),
                    replaces: replaces.map(|r| people[r]),
                })
                .collect();
            s.rotation = entries
                .into_iter()
                .map(|(u, start, len)| RotationEntry {
                    user_id: people[u],
                    start: at(start),
                    end: at(start + len),
                })
                .collect();
            s
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn on_call_is_the_user_of_the_shift_covering_the_instant(
            s in arb_schedule(),
            t in 0i64..(400 * 86_400),
        ) {
            let t = at(t);
            let shifts = s.shifts(t - Duration::days(1), t + Duration::days(1));
            let covering = shifts.iter().find(|sh| sh.start <= t && t < sh.end).map(|sh| sh.user_id);
            prop_assert_eq!(s.on_call(t), covering);
        }

        #[test]
        fn shifts_never_overlap_and_stay_in_the_window(
            s in arb_schedule(),
            from in 0i64..(400 * 86_400),
            days in 1i64..30,
        ) {
            let (from, to) = (at(from), at(from) + Duration::days(days));
            let shifts = s.shifts(from, to);
            for sh in &shifts {
                prop_assert!(from <= sh.start && sh.start < sh.end && sh.end <= to);
            }
            for pair in shifts.windows(2) {
                prop_assert!(pair[0].end <= pair[1].start);
            }
        }

        #[test]
        fn a_rotation_cycles_through_its_participants_in_order(
            zone in 0..ZONES.len(),
            len in 1u32..4,
            unit in arb_unit(),
            n in 1usize..6,
            k in 0i64..500,
        ) {
            let people = users(n);
            let mut r = rotation(ZONES[zone], "2026-02-01T09:00:00Z", len, unit, &people);
            r.time_zone = ZONES[zone].into();
            let start = r.handoff(k).unwrap();
            let end = r.handoff(k + 1).unwrap();
            prop_assert!(start < end);
            prop_assert_eq!(r.user_at(start), Some(people[(k as usize) % n]));
            prop_assert_eq!(r.user_at(end - Duration::milliseconds(1)), Some(people[(k as usize) % n]));
            prop_assert_eq!(r.shift_index(start), Some(k));
        }
    }
}
