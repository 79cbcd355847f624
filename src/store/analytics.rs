//! Measuring the on-call: counts, time to acknowledge (MTTA) and to resolve (MTTR), per
//! service, responder, local day and on-call person, over incidents triggered in a window.
//!
//! [`AnalyticsIndex`] keeps a compact summary of every incident ordered by trigger time,
//! maintained by `State::apply`'s indexing, so a window is one range of an ordered map and
//! never a scan of every incident. [`compute`] is the pure arithmetic over those summaries;
//! [`Store::analytics`] validates the window and gathers the shifts. Nothing here writes.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{Duration, NaiveDate, Timelike};
use chrono_tz::Tz;

use super::Store;
use super::state::read;
use crate::domain::incident::EscalationReason;
use crate::domain::oncall::{parse_time_zone, resolve_local};
use crate::domain::{
    DomainError, Incident, IncidentId, ScheduleId, ServiceId, Severity, Timestamp, UserId,
};

/// The longest window one request may ask for.
pub const MAX_WINDOW_DAYS: i64 = 400;
/// `Schedule::shifts` answers at most this many days per call.
const SHIFT_CHUNK_DAYS: i64 = 366;

/// What analytics needs of one incident. The index keeps it packed (see [`Packed`]); this
/// is the unpacked form the arithmetic reads.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IncidentSummary {
    /// The incident's `seq` (its id is one lookup away: memory's order, or the cold index).
    pub seq: u64,
    /// Its service.
    pub service_id: ServiceId,
    /// The schedule that paged for it (its zone decides what a night page is).
    pub schedule_id: ScheduleId,
    /// Its severity.
    pub severity: Severity,
    /// When it was opened.
    pub triggered_at: Timestamp,
    /// Milliseconds from the trigger to the first acknowledgement (MTTA), which survives
    /// escalations back to triggered. Durations are kept, not instants: a window's
    /// arithmetic is then integer additions.
    pub to_first_acknowledgement_ms: Option<i64>,
    /// The standing acknowledgement: milliseconds from the trigger, and the user who made
    /// it, if a person did.
    pub acknowledged: Option<(i64, Option<UserId>)>,
    /// Milliseconds from the trigger to the resolution.
    pub to_resolution_ms: Option<i64>,
    /// Whether it moved up a level by timeout or by hand.
    pub escalated: bool,
    /// The first page (most incidents have one or two), kept inline.
    pub first_page: Option<(UserId, Timestamp)>,
    /// Every later page: who, and when it was decided.
    pub later_pages: Box<[(UserId, Timestamp)]>,
}

impl IncidentSummary {
    /// The summary of an incident's current state.
    pub fn of(incident: &Incident) -> Self {
        let since = |at: Timestamp| ms_between(incident.triggered_at, at);
        let mut pages = incident.notifications.iter().map(|n| (n.user_id, n.at));
        Self {
            seq: incident.seq,
            service_id: incident.service_id,
            schedule_id: incident.schedule_id,
            severity: incident.severity,
            triggered_at: incident.triggered_at,
            // Incidents snapshotted before the field existed still count their standing
            // acknowledgement.
            to_first_acknowledgement_ms: incident
                .first_acknowledged_at
                .or(incident.acknowledged_at)
                .map(since),
            acknowledged: incident.acknowledged_at.map(|at| {
                (
                    since(at),
                    incident.acknowledged_by.as_ref().and_then(|a| a.user_id()),
                )
            }),
            to_resolution_ms: incident.resolved_at.map(since),
            escalated: incident.escalation_history().iter().any(|step| {
                matches!(
                    step.reason,
                    EscalationReason::Timeout | EscalationReason::Manual
                )
            }),
            first_page: pages.next(),
            later_pages: pages.collect(),
        }
    }

    /// Every page, oldest first.
    pub fn pages(&self) -> impl Iterator<Item = &(UserId, Timestamp)> {
        self.first_page.iter().chain(self.later_pages.iter())
    }
}

/// Incident summaries by (trigger time, seq), packed: a year of history (millions of
/// retired incidents) stays in memory at 41 bytes each, so analytics over it reads
/// no disk. A std lock: held for one insert, or for one window's arithmetic, never across
/// an await.
#[derive(Debug, Default)]
pub struct AnalyticsIndex {
    inner: RwLock<Packed>,
}

/// The packed index: sorted runs of fixed-size entries, and beside them the few summaries
/// that do not fit one (more than one page, a duration past 49 days, ...).
#[derive(Debug, Default)]
struct Packed {
    /// Sorted by key; each run at most [`RUN`] long, runs in key order. Appends (the usual
    /// case: incidents come in trigger order) fill the last run; an insert elsewhere
    /// splits a full run in two.
    runs: Vec<Vec<Entry>>,
    /// Summaries kept whole, by seq.
    wide: HashMap<u64, Box<IncidentSummary>>,
    services: Interner<ServiceId>,
    schedules: Interner<ScheduleId>,
    users: Interner<UserId>,
    len: usize,
}

/// Entries per run.
const RUN: usize = 1024;
/// "None" in a `u32` field.
const NONE: u32 = u32::MAX;
/// "None" in a `u16` field.
const NONE16: u16 = u16::MAX;

/// One summary in 41 bytes. Durations are whole milliseconds (as the summary has them);
/// ids are indexes into the interners. Packed (no padding): fields are only ever copied
/// out, never borrowed, so unaligned reads are all it costs.
#[derive(Clone, Copy, Debug)]
#[repr(C, packed)]
struct Entry {
    /// Trigger instant, ns since the epoch (the key, with `seq`), as two halves.
    at_ns: [u32; 2],
    /// The incident's seq, as two halves.
    seq: [u32; 2],
    first_ack_ms: u32,
    ack_ms: u32,
    resolution_ms: u32,
    page_delta_ms: u32,
    /// The user who made the standing acknowledgement; `NONE16` when not a person.
    /// Users, services and schedules are few: past `u16` numbering a summary is kept
    /// whole.
    ack_user: u16,
    page_user: u16,
    service: u16,
    schedule: u16,
    /// Bits 0-1 severity, 2 escalated, 3 has a page, 4 kept whole in `wide`.
    flags: u8,
}

const ESCALATED: u8 = 1 << 2;
const PAGED: u8 = 1 << 3;
const WIDE: u8 = 1 << 4;

fn halves(n: u64) -> [u32; 2] {
    [n as u32, (n >> 32) as u32]
}

fn whole(halves: [u32; 2]) -> u64 {
    u64::from(halves[0]) | (u64::from(halves[1]) << 32)
}

impl Entry {
    fn at_ns(&self) -> i64 {
        whole(self.at_ns) as i64
    }
    fn seq(&self) -> u64 {
        whole(self.seq)
    }
    fn key(&self) -> (i64, u64) {
        (self.at_ns(), self.seq())
    }
}

/// Ids numbered in first-seen order.
#[derive(Debug, Default)]
struct Interner<T> {
    ids: Vec<T>,
    index: IdMap<T, u32>,
}

impl<T: Copy + Eq + std::hash::Hash> Interner<T> {
    /// The id's number, below `limit`; `None` when the numbers up to it are taken.
    fn number(&mut self, id: T, limit: u32) -> Option<u32> {
        if let Some(n) = self.index.get(&id) {
            return Some(*n);
        }
        let n = u32::try_from(self.ids.len()).ok().filter(|n| *n < limit)?;
        self.ids.push(id);
        self.index.insert(id, n);
        Some(n)
    }

    fn get(&self, n: u32) -> Option<T> {
        self.ids.get(n as usize).copied()
    }
}

fn nanos(at: Timestamp) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(if at.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

fn severity_bits(severity: Severity) -> u8 {
    match severity {
        Severity::Low => 0,
        Severity::Medium => 1,
        Severity::High => 2,
    }
}

fn severity_of(flags: u8) -> Severity {
    match flags & 3 {
        0 => Severity::Low,
        1 => Severity::Medium,
        _ => Severity::High,
    }
}

/// A duration as a `u32` field: `None` is `NONE`; `Err` when it does not fit.
fn duration_field(ms: Option<i64>) -> Result<u32, ()> {
    match ms {
        None => Ok(NONE),
        Some(ms) => u32::try_from(ms).ok().filter(|ms| *ms < NONE).ok_or(()),
    }
}

fn duration_of(field: u32) -> Option<i64> {
    (field != NONE).then_some(i64::from(field))
}

impl Packed {
    /// Packs `summary`; `None` when it must be kept whole.
    fn pack(&mut self, summary: &IncidentSummary) -> Option<Entry> {
        let at_ns = nanos(summary.triggered_at);
        // The trigger instant must come back exactly.
        if chrono::DateTime::from_timestamp_nanos(at_ns) != summary.triggered_at
            || !summary.later_pages.is_empty()
        {
            return None;
        }
        let (ack_ms, ack_user) = match summary.acknowledged {
            None => (NONE, NONE16),
            Some((ms, user)) => (
                duration_field(Some(ms)).ok()?,
                match user {
                    Some(user) => self.users.number(user, u32::from(NONE16))? as u16,
                    None => NONE16,
                },
            ),
        };
        let (page_user, page_delta_ms, paged) = match summary.first_page {
            None => (NONE16, 0, 0),
            Some((user, at)) => {
                let delta = at - summary.triggered_at;
                let ms = delta.num_milliseconds();
                if delta != chrono::Duration::milliseconds(ms) {
                    return None;
                }
                (
                    self.users.number(user, u32::from(NONE16))? as u16,
                    duration_field(Some(ms)).ok()?,
                    PAGED,
                )
            }
        };
        Some(Entry {
            at_ns: halves(at_ns as u64),
            seq: halves(summary.seq),
            first_ack_ms: duration_field(summary.to_first_acknowledgement_ms).ok()?,
            ack_ms,
            resolution_ms: duration_field(summary.to_resolution_ms).ok()?,
            ack_user,
            page_user,
            page_delta_ms,
            service: self
                .services
                .number(summary.service_id, u32::from(u16::MAX))? as u16,
            schedule: self
                .schedules
                .number(summary.schedule_id, u32::from(u16::MAX))? as u16,
            flags: severity_bits(summary.severity)
                | if summary.escalated { ESCALATED } else { 0 }
                | paged,
        })
    }

    fn unpack(&self, entry: &Entry) -> Option<IncidentSummary> {
        if entry.flags & WIDE != 0 {
            return self.wide.get(&entry.seq()).map(|s| (**s).clone());
        }
        let triggered_at = chrono::DateTime::from_timestamp_nanos(entry.at_ns());
        let first_page = if entry.flags & PAGED != 0 {
            Some((
                self.users.get(u32::from(entry.page_user))?,
                triggered_at + chrono::Duration::milliseconds(i64::from(entry.page_delta_ms)),
            ))
        } else {
            None
        };
        Some(IncidentSummary {
            seq: entry.seq(),
            service_id: self.services.get(u32::from(entry.service))?,
            schedule_id: self.schedules.get(u32::from(entry.schedule))?,
            severity: severity_of(entry.flags),
            triggered_at,
            to_first_acknowledgement_ms: duration_of(entry.first_ack_ms),
            acknowledged: duration_of(entry.ack_ms)
                .map(|ms| (ms, self.users.get(u32::from(entry.ack_user)))),
            to_resolution_ms: duration_of(entry.resolution_ms),
            escalated: entry.flags & ESCALATED != 0,
            first_page,
            later_pages: Box::new([]),
        })
    }

    fn insert(&mut self, summary: IncidentSummary) {
        let entry = match self.pack(&summary) {
            Some(entry) => {
                self.wide.remove(&summary.seq);
                entry
            }
            None => {
                let entry = Entry {
                    at_ns: halves(nanos(summary.triggered_at) as u64),
                    seq: halves(summary.seq),
                    first_ack_ms: NONE,
                    ack_ms: NONE,
                    resolution_ms: NONE,
                    ack_user: NONE16,
                    page_user: NONE16,
                    page_delta_ms: 0,
                    service: u16::MAX,
                    schedule: u16::MAX,
                    flags: WIDE,
                };
                self.wide.insert(summary.seq, Box::new(summary));
                entry
            }
        };
        let key = entry.key();
        // The run that holds (or should hold) the key: the first whose last key is not
        // below it, else the last.
        let run = self
            .runs
            .partition_point(|run| run.last().is_some_and(|last| last.key() < key));
        if run == self.runs.len() {
            match self.runs.last_mut() {
                Some(last) if last.len() < RUN => last.push(entry),
                _ => {
                    let mut fresh = Vec::with_capacity(RUN);
                    fresh.push(entry);
                    self.runs.push(fresh);
                }
            }
            self.len += 1;
            return;
        }
        let entries = &mut self.runs[run];
        match entries.binary_search_by(|e| e.key().cmp(&key)) {
            Ok(at) => entries[at] = entry,
            Err(at) => {
                entries.insert(at, entry);
                self.len += 1;
                if entries.len() > RUN {
                    let tail = entries.split_off(RUN / 2);
                    entries.shrink_to_fit();
                    self.runs.insert(run + 1, tail);
                }
            }
        }
    }

    /// Entries with `from <= key < to`, in order.
    fn range(&self, from: (i64, u64), to: (i64, u64)) -> impl Iterator<Item = &Entry> {
        let first = self
            .runs
            .partition_point(|run| run.last().is_some_and(|last| last.key() < from));
        self.runs[first..]
            .iter()
            .flat_map(|run| run.iter())
            .skip_while(move |e| e.key() < from)
            .take_while(move |e| e.key() < to)
    }
}

impl AnalyticsIndex {
    /// Records (or replaces) the summary of `incident`.
    pub fn record(&self, incident: &Incident) {
        self.restore(IncidentSummary::of(incident));
    }

    /// Puts back a summary (kept by a snapshot for an incident retired from memory).
    pub fn restore(&self, summary: IncidentSummary) {
        super::state::write(&self.inner).insert(summary);
    }

    /// Puts back many summaries under one lock (a snapshot chunk's, oldest first: each
    /// lands at the end of the last run).
    pub fn restore_all(&self, summaries: impl IntoIterator<Item = IncidentSummary>) {
        let mut packed = super::state::write(&self.inner);
        for summary in summaries {
            packed.insert(summary);
        }
    }

    /// The summaries of incidents `in_memory` (given a seq) says are not in memory
    /// (retired ones), oldest first: a snapshot keeps them, since their incidents are not
    /// in it.
    pub fn retired(&self, in_memory: impl Fn(u64) -> bool) -> Vec<IncidentSummary> {
        let packed = read(&self.inner);
        packed
            .range((i64::MIN, 0), (i64::MAX, u64::MAX))
            .filter(|e| !in_memory(e.seq()))
            .filter_map(|e| packed.unpack(e))
            .collect()
    }

    /// Runs `f` over the summaries of incidents triggered in `[from, to)`, oldest first.
    pub fn with_window<R>(
        &self,
        from: Timestamp,
        to: Timestamp,
        f: impl FnOnce(&mut dyn Iterator<Item = IncidentSummary>) -> R,
    ) -> R {
        let packed = read(&self.inner);
        let mut range = packed
            .range((nanos(from), 0), (nanos(to), 0))
            .filter_map(|e| packed.unpack(e));
        f(&mut range)
    }

    /// How many incidents are indexed.
    pub fn len(&self) -> usize {
        read(&self.inner).len
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A mean of whole milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mean {
    sum: i128,
    n: u64,
}

impl Mean {
    fn add(&mut self, ms: i64) {
        self.sum += i128::from(ms);
        self.n += 1;
    }

    /// The mean, rounded to a whole millisecond; `None` over nothing.
    pub fn ms(&self) -> Option<f64> {
        (self.n > 0).then(|| (self.sum as f64 / self.n as f64).round())
    }
}

/// The nearest-rank percentile `p` (0 < p ≤ 100) of `values`, reordering them; `None`
/// when empty.
pub fn percentile(values: &mut [i64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    let index = rank.clamp(1, values.len()) - 1;
    let (_, value, _) = values.select_nth_unstable(index);
    Some(*value as f64)
}

/// A map keyed by a UUID id. The ids are random (or time-ordered) 16 bytes, so folding
/// them into a word with a multiply is as good a hash as SipHash here, at a fraction of
/// its cost (a window hashes a few ids per incident).
type IdMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.write(&n.to_le_bytes());
    }
}

fn ms_between(from: Timestamp, to: Timestamp) -> i64 {
    (to - from).num_milliseconds()
}

/// Counts and means over a set of incidents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Incidents triggered.
    pub incident_count: u32,
    /// Of those, ever acknowledged.
    pub acknowledged_count: u32,
    /// Of those, resolved.
    pub resolved_count: u32,
    /// Of those, escalated by timeout or by hand.
    pub escalated_count: u32,
    /// Trigger to first acknowledgement, over the acknowledged ones.
    pub mtta: Mean,
    /// Trigger to resolution, over the resolved ones.
    pub mttr: Mean,
}

impl Totals {
    fn add(&mut self, s: &IncidentSummary) {
        self.incident_count += 1;
        if let Some(ms) = s.to_first_acknowledgement_ms {
            self.acknowledged_count += 1;
            self.mtta.add(ms);
        }
        if let Some(ms) = s.to_resolution_ms {
            self.resolved_count += 1;
            self.mttr.add(ms);
        }
        if s.escalated {
            self.escalated_count += 1;
        }
    }
}

/// One paged user's figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponderTotals {
    /// The user.
    pub user_id: UserId,
    /// Incidents they were paged for.
    pub incident_count: u32,
    /// Pages they received.
    pub pages_received: u32,
    /// Incidents whose standing acknowledgement is theirs.
    pub acknowledged_count: u32,
    /// Trigger to their acknowledgement, over those.
    pub mtta: Mean,
    /// Trigger to resolution, over those that are resolved.
    pub mttr: Mean,
}

/// One local day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Day {
    /// The local date in the requested zone.
    pub date: NaiveDate,
    /// Incidents triggered that day.
    pub incident_count: u32,
    /// Of those, `LOW`.
    pub low_count: u32,
    /// Of those, `MEDIUM`.
    pub medium_count: u32,
    /// Of those, `HIGH`.
    pub high_count: u32,
    /// That day's incidents' MTTA.
    pub mtta: Mean,
    /// That day's incidents' MTTR.
    pub mttr: Mean,
}

/// One person's on-call load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Load {
    /// The user.
    pub user_id: UserId,
    /// Time on call in the window, summed over the schedules in scope.
    pub on_call_ms: i64,
    /// Pages they received.
    pub pages: u32,
    /// Of those, decided between 22:00 and 07:00 local time in the paging schedule's zone.
    pub night_pages: u32,
}

/// The figures of one window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// Every incident of the window.
    pub totals: Totals,
    /// Nearest-rank percentiles of time to acknowledge and to resolve.
    pub mtta_p50_ms: Option<f64>,
    /// See `mtta_p50_ms`.
    pub mtta_p90_ms: Option<f64>,
    /// See `mtta_p50_ms`.
    pub mttr_p50_ms: Option<f64>,
    /// See `mtta_p50_ms`.
    pub mttr_p90_ms: Option<f64>,
    /// Per service, most incidents first.
    pub by_service: Vec<(ServiceId, Totals)>,
    /// Per paged user, most pages first.
    pub by_responder: Vec<ResponderTotals>,
    /// Every local day of the window, zero-filled.
    pub daily: Vec<Day>,
    /// Per user on call or paged, most time on call first.
    pub on_call_load: Vec<Load>,
}

/// What [`compute`] is asked.
pub struct Window<'a> {
    /// Inclusive.
    pub from: Timestamp,
    /// Exclusive.
    pub to: Timestamp,
    /// The zone days are counted in.
    pub time_zone: Tz,
    /// Time on call per user, from the shifts served in the window.
    pub on_call_ms: &'a HashMap<UserId, i64>,
    /// The zone of a schedule (night pages are local to the paging schedule).
    pub zone_of: &'a dyn Fn(ScheduleId) -> Tz,
}

/// Local midnights from the day of `from` to the day of `to`'s last instant, as instants.
fn day_starts(from: Timestamp, to: Timestamp, tz: Tz) -> Vec<(NaiveDate, Timestamp)> {
    let first = from.with_timezone(&tz).date_naive();
    let last = (to - Duration::milliseconds(1))
        .with_timezone(&tz)
        .date_naive();
    first
        .iter_days()
        .take_while(|d| *d <= last)
        .map(|d| {
            let start = resolve_local(tz, d.and_time(chrono::NaiveTime::MIN)).unwrap_or(from);
            (d, start)
        })
        .collect()
}

fn is_night(at: Timestamp, tz: Tz) -> bool {
    let hour = at.with_timezone(&tz).hour();
    !(7..22).contains(&hour)
}

/// The figures over `incidents` (those triggered in the window, already filtered).
pub fn compute(incidents: impl Iterator<Item = IncidentSummary>, window: &Window<'_>) -> Report {
    let starts = day_starts(window.from, window.to, window.time_zone);
    let mut daily: Vec<Day> = starts
        .iter()
        .map(|(date, _)| Day {
            date: *date,
            incident_count: 0,
            low_count: 0,
            medium_count: 0,
            high_count: 0,
            mtta: Mean::default(),
            mttr: Mean::default(),
        })
        .collect();
    let mut totals = Totals::default();
    let mut mtta = Vec::new();
    let mut mttr = Vec::new();
    let mut services: IdMap<ServiceId, Totals> = IdMap::default();
    let mut responders: IdMap<UserId, ResponderTotals> = IdMap::default();
    let mut loads: IdMap<UserId, Load> = IdMap::default();
    let mut zones: IdMap<ScheduleId, Tz> = IdMap::default();
    let mut day = 0;
    for s in incidents {
        let s = &s;
        totals.add(s);
        services.entry(s.service_id).or_default().add(s);
        if let Some(ms) = s.to_first_acknowledgement_ms {
            mtta.push(ms);
        }
        if let Some(ms) = s.to_resolution_ms {
            mttr.push(ms);
        }
        // Incidents come in trigger order, so the day only moves forward; a search
        // covers any other order.
        while starts
            .get(day + 1)
            .is_some_and(|(_, start)| *start <= s.triggered_at)
        {
            day += 1;
        }
        if starts
            .get(day)
            .is_some_and(|(_, start)| *start > s.triggered_at)
        {
            day = starts
                .partition_point(|(_, start)| *start <= s.triggered_at)
                .saturating_sub(1);
        }
        if let Some(day) = daily.get_mut(day) {
            day.incident_count += 1;
            match s.severity {
                Severity::Low => day.low_count += 1,
                Severity::Medium => day.medium_count += 1,
                Severity::High => day.high_count += 1,
            }
            if let Some(ms) = s.to_first_acknowledgement_ms {
                day.mtta.add(ms);
            }
            if let Some(ms) = s.to_resolution_ms {
                day.mttr.add(ms);
            }
        }
        let zone = *zones
            .entry(s.schedule_id)
            .or_insert_with(|| (window.zone_of)(s.schedule_id));
        for (i, (user, at)) in s.pages().enumerate() {
            let responder = responders.entry(*user).or_insert(ResponderTotals {
                user_id: *user,
                incident_count: 0,
                pages_received: 0,
                acknowledged_count: 0,
                mtta: Mean::default(),
                mttr: Mean::default(),
            });
            responder.pages_received += 1;
            // Once per incident, however many times they were paged for it.
            if !s.pages().take(i).any(|(earlier, _)| earlier == user) {
                responder.incident_count += 1;
            }
            let load = loads.entry(*user).or_insert_with(|| empty_load(*user));
            load.pages += 1;
            if is_night(*at, zone) {
                load.night_pages += 1;
            }
        }
        if let Some((ms, Some(user))) = s.acknowledged {
            let responder = responders.entry(user).or_insert(ResponderTotals {
                user_id: user,
                incident_count: 0,
                pages_received: 0,
                acknowledged_count: 0,
                mtta: Mean::default(),
                mttr: Mean::default(),
            });
            responder.acknowledged_count += 1;
            responder.mtta.add(ms);
            if let Some(resolved) = s.to_resolution_ms {
                responder.mttr.add(resolved);
            }
        }
    }
    for (user, ms) in window.on_call_ms {
        loads
            .entry(*user)
            .or_insert_with(|| empty_load(*user))
            .on_call_ms += ms;
    }
    let mut by_service: Vec<_> = services.into_iter().collect();
    by_service.sort_by(|a, b| {
        b.1.incident_count
            .cmp(&a.1.incident_count)
            .then(a.0.cmp(&b.0))
    });
    let mut by_responder: Vec<_> = responders
        .into_values()
        .filter(|r| r.pages_received > 0)
        .collect();
    by_responder.sort_by(|a, b| {
        b.pages_received
            .cmp(&a.pages_received)
            .then(a.user_id.cmp(&b.user_id))
    });
    let mut on_call_load: Vec<_> = loads.into_values().collect();
    on_call_load.sort_by(|a, b| {
        b.on_call_ms
            .cmp(&a.on_call_ms)
            .then(b.pages.cmp(&a.pages))
            .then(a.user_id.cmp(&b.user_id))
    });
    Report {
        totals,
        mtta_p50_ms: percentile(&mut mtta, 50.0),
        mtta_p90_ms: percentile(&mut mtta, 90.0),
        mttr_p50_ms: percentile(&mut mttr, 50.0),
        mttr_p90_ms: percentile(&mut mttr, 90.0),
        by_service,
        by_responder,
        daily,
        on_call_load,
    }
}

fn empty_load(user_id: UserId) -> Load {
    Load {
        user_id,
        on_call_ms: 0,
        pages: 0,
        night_pages: 0,
    }
}

/// A validated analytics request and its answer.
#[derive(Clone, Debug)]
pub struct Analytics {
    /// Inclusive.
    pub from: Timestamp,
    /// Exclusive.
    pub to: Timestamp,
    /// The zone days are counted in.
    pub time_zone: Tz,
    /// The figures.
    pub report: Report,
}

/// Checks a window: `to` after `from`, at most [`MAX_WINDOW_DAYS`].
pub fn check_window(from: Timestamp, to: Timestamp) -> Result<(), DomainError> {
    if to <= from {
        return Err(DomainError::invalid("to", "must be after `from`"));
    }
    if to - from > Duration::days(MAX_WINDOW_DAYS) {
        return Err(DomainError::invalid(
            "to",
            format!("the window is at most {MAX_WINDOW_DAYS} days"),
        ));
    }
    Ok(())
}

impl Store {
    fn analytics_service(&self, raw: Option<&str>) -> Result<Option<ServiceId>, DomainError> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        let id: ServiceId = raw.parse().map_err(|e: DomainError| e.at("serviceId"))?;
        // Deleted services keep their history.
        self.state()
            .service_any(id)
            .ok_or_else(|| DomainError::not_found("service", id).at("serviceId"))?;
        Ok(Some(id))
    }

    /// The figures over incidents triggered in `[from, to)`, of one service or all.
    pub fn analytics(
        &self,
        from: Timestamp,
        to: Timestamp,
        service_id: Option<&str>,
        time_zone: Option<&str>,
    ) -> Result<Analytics, DomainError> {
        check_window(from, to)?;
        let time_zone = match time_zone {
            Some(raw) => parse_time_zone("timeZone", raw)?,
            None => Tz::UTC,
        };
        let service = self.analytics_service(service_id)?;
        let schedules = match service {
            Some(id) => self.schedules_of(id),
            None => self.schedules(),
        };
        let mut on_call_ms: HashMap<UserId, i64> = HashMap::new();
        for schedule in &schedules {
            let mut start = from;
            while start < to {
                let end = (start + Duration::days(SHIFT_CHUNK_DAYS)).min(to);
                for shift in schedule.shifts(start, end) {
                    *on_call_ms.entry(shift.user_id).or_default() +=
                        ms_between(shift.start, shift.end);
                }
                start = end;
            }
        }
        let state = self.state();
        let zone_of = |id: ScheduleId| {
            state
                .schedule_any(id)
                .and_then(|s| s.time_zone.parse().ok())
                .unwrap_or(Tz::UTC)
        };
        let window = Window {
            from,
            to,
            time_zone,
            on_call_ms: &on_call_ms,
            zone_of: &zone_of,
        };
        let report = state.analytics.with_window(from, to, |incidents| {
            let incidents = incidents.filter(|s| service.is_none_or(|id| s.service_id == id));
            compute(incidents, &window)
        });
        Ok(Analytics {
            from,
            to,
            time_zone,
            report,
        })
    }

    /// The incidents triggered in `[from, to)`, of one service or all, oldest first (the
    /// CSV export).
    pub async fn incidents_triggered(
        &self,
        from: Timestamp,
        to: Timestamp,
        service_id: Option<&str>,
    ) -> Result<Vec<Arc<Incident>>, super::CommandError> {
        check_window(from, to)?;
        let service = self.analytics_service(service_id)?;
        let seqs: Vec<u64> = self.state().analytics.with_window(from, to, |incidents| {
            incidents
                .filter(|s| service.is_none_or(|id| s.service_id == id))
                .map(|s| s.seq)
                .collect()
        });
        let ids: Vec<Option<IncidentId>> = {
            let order = read(&self.state().order);
            seqs.iter().map(|seq| order.get(seq).copied()).collect()
        };
        let mut found: Vec<Option<Arc<Incident>>> = ids
            .iter()
            .map(|id| id.and_then(|id| self.incident(id)))
            .collect();
        let retired: Vec<u64> = seqs
            .iter()
            .zip(&found)
            .filter(|(_, hot)| hot.is_none())
            .map(|(seq, _)| *seq)
            .collect();
        if let (false, Some(cold)) = (retired.is_empty(), self.cold_index()) {
            let rows = super::blocking(move || cold.get_by_seqs(&retired)).await?;
            let rows: HashMap<u64, Incident> = rows.into_iter().map(|i| (i.seq, i)).collect();
            for (seq, slot) in seqs.iter().zip(found.iter_mut()) {
                if slot.is_none() {
                    *slot = rows.get(seq).cloned().map(Arc::new);
                }
            }
        }
        Ok(found.into_iter().flatten().collect())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn t(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Timestamp {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn summary(triggered_at: Timestamp) -> IncidentSummary {
        IncidentSummary {
            seq: 0,
            service_id: ServiceId(uuid::Uuid::nil()),
            schedule_id: ScheduleId(uuid::Uuid::nil()),
            severity: Severity::High,
            triggered_at,
            to_first_acknowledgement_ms: None,
            acknowledged: None,
            to_resolution_ms: None,
            escalated: false,
            first_page: None,
            later_pages: Box::new([]),
        }
    }

    fn run(incidents: &[IncidentSummary], from: Timestamp, to: Timestamp, tz: Tz) -> Report {
        let none = HashMap::new();
        let zone = move |_| tz;
        compute(
            incidents.iter().cloned(),
            &Window {
                from,
                to,
                time_zone: tz,
                on_call_ms: &none,
                zone_of: &zone,
            },
        )
    }

    #[test]
    fn unacknowledged_incidents_are_counted_but_not_averaged() {
        let at = t(2026, 3, 1, 12, 0);
        let mut acked = summary(at);
        acked.to_first_acknowledgement_ms = Some(120_000);
        acked.to_resolution_ms = Some(600_000);
        let mut acked_later = summary(at);
        acked_later.to_first_acknowledgement_ms = Some(240_000);
        let open = summary(at);
        let report = run(
            &[acked, acked_later, open],
            t(2026, 3, 1, 0, 0),
            t(2026, 3, 2, 0, 0),
            Tz::UTC,
        );
        assert_eq!(report.totals.incident_count, 3);
        assert_eq!(report.totals.acknowledged_count, 2);
        assert_eq!(report.totals.resolved_count, 1);
        assert_eq!(report.totals.mtta.ms(), Some(180_000.0));
        assert_eq!(report.totals.mttr.ms(), Some(600_000.0));
    }

    #[test]
    fn means_are_null_over_nothing() {
        let report = run(
            &[summary(t(2026, 3, 1, 12, 0))],
            t(2026, 3, 1, 0, 0),
            t(2026, 3, 2, 0, 0),
            Tz::UTC,
        );
        assert_eq!(report.totals.mtta.ms(), None);
        assert_eq!(report.totals.mttr.ms(), None);
        assert_eq!(report.mtta_p50_ms, None);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut values: Vec<i64> = (1..=10).rev().map(|v| v * 100).collect();
        assert_eq!(percentile(&mut values, 50.0), Some(500.0));
        assert_eq!(percentile(&mut values, 90.0), Some(900.0));
        assert_eq!(percentile(&mut values, 100.0), Some(1000.0));
        let mut one = vec![42];
        assert_eq!(percentile(&mut one, 90.0), Some(42.0));
        let mut four = vec![15, 20, 35, 40];
        // rank = ceil(0.5 * 4) = 2
        assert_eq!(percentile(&mut four, 50.0), Some(20.0));
        assert_eq!(percentile(&mut [], 50.0), None);
    }

    #[test]
    fn means_round_to_whole_milliseconds() {
        let mut mean = Mean::default();
        mean.add(1);
        mean.add(2);
        assert_eq!(mean.ms(), Some(2.0));
    }

    #[test]
    fn night_pages_follow_the_zone_across_a_dst_change() {
        // New York springs forward on 2026-03-08: 21:30 local is 02:30Z the day before
        // and 01:30Z the day after.
        let tz: Tz = "America/New_York".parse().unwrap();
        assert!(!is_night(t(2026, 3, 7, 2, 30), tz)); // 21:30 EST
        assert!(is_night(t(2026, 3, 7, 3, 30), tz)); // 22:30 EST
        assert!(!is_night(t(2026, 3, 9, 1, 30), tz)); // 21:30 EDT
        assert!(is_night(t(2026, 3, 9, 2, 30), tz)); // 22:30 EDT
        assert!(is_night(t(2026, 3, 9, 10, 30), tz)); // 06:30 EDT
        assert!(!is_night(t(2026, 3, 9, 11, 30), tz)); // 07:30 EDT
        let user = UserId(uuid::Uuid::from_u128(7));
        let mut paged = summary(t(2026, 3, 9, 1, 30));
        paged.first_page = Some((user, t(2026, 3, 9, 1, 30))); // 21:30 EDT: day
        paged.later_pages = Box::new([
            (user, t(2026, 3, 9, 2, 30)), // 22:30 EDT: night (02:30Z was day in EST)
            (user, t(2026, 3, 9, 11, 30)), // 07:30 EDT: day
        ]);
        let report = run(&[paged], t(2026, 3, 8, 0, 0), t(2026, 3, 10, 0, 0), tz);
        assert_eq!(report.on_call_load.len(), 1);
        assert_eq!(report.on_call_load[0].pages, 3);
        assert_eq!(report.on_call_load[0].night_pages, 1);
        assert_eq!(report.by_responder[0].incident_count, 1);
        assert_eq!(report.by_responder[0].pages_received, 3);
    }

    #[test]
    fn daily_buckets_are_local_days_zero_filled() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        // Berlin is UTC+1 in January: 23:30Z on the 1st is 00:30 on the 2nd.
        let mut late = summary(t(2026, 1, 1, 23, 30));
        late.severity = Severity::Low;
        let early = summary(t(2026, 1, 1, 22, 30)); // 23:30 on the 1st
        let report = run(
            &[early, late],
            t(2025, 12, 31, 23, 0), // midnight Jan 1 in Berlin
            t(2026, 1, 3, 23, 0),   // midnight Jan 4 in Berlin
            tz,
        );
        let days: Vec<(String, u32, u32, u32)> = report
            .daily
            .iter()
            .map(|d| {
                (
                    d.date.to_string(),
                    d.incident_count,
                    d.low_count,
                    d.high_count,
                )
            })
            .collect();
        assert_eq!(
            days,
            vec![
                ("2026-01-01".into(), 1, 0, 1),
                ("2026-01-02".into(), 1, 1, 0),
                ("2026-01-03".into(), 0, 0, 0),
            ]
        );
    }

    #[test]
    fn daily_buckets_span_a_short_dst_day() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        // 2026-03-29 has 23 hours in Berlin; 22:30Z that day is 00:30 on the 30th (CEST).
        let report = run(
            &[summary(t(2026, 3, 29, 22, 30))],
            t(2026, 3, 28, 23, 0),
            t(2026, 3, 30, 22, 0),
            tz,
        );
        assert_eq!(report.daily.len(), 2);
        assert_eq!(report.daily[0].incident_count, 0);
        assert_eq!(report.daily[1].date.to_string(), "2026-03-30");
        assert_eq!(report.daily[1].incident_count, 1);
    }

    #[test]
    fn windows_are_checked() {
        let at = t(2026, 1, 1, 0, 0);
        assert!(check_window(at, at).is_err());
        assert!(check_window(at, at - Duration::days(1)).is_err());
        assert!(check_window(at, at + Duration::days(401)).is_err());
        assert!(check_window(at, at + Duration::days(400)).is_ok());
    }

    pub(crate) fn arbitrary_summary() -> impl proptest::strategy::Strategy<Value = IncidentSummary>
    {
        use proptest::prelude::*;
        let users = [UserId::new(), UserId::new(), UserId::new()];
        let services = [ServiceId::new(), ServiceId::new()];
        let schedules = [ScheduleId::new(), ScheduleId::new()];
        let duration = proptest::option::of(prop_oneof![0..600_000i64, 0..20_000_000_000i64]);
        (
            (
                0..100_000u64,
                0..2_000_000_000_000_000i64,
                0..3u8,
                any::<bool>(),
            ),
            (duration.clone(), duration.clone(), duration),
            (proptest::option::of(0..3usize), any::<bool>()),
            (
                0..3usize,
                proptest::collection::vec((0..3usize, 0..5_000_000_000i64), 0..3),
            ),
        )
            .prop_map(
                move |(
                    (seq, at_ns, severity, escalated),
                    (first, ack, resolved),
                    (ack_user, ns_page),
                    (n, pages),
                )| {
                    let triggered_at = chrono::DateTime::from_timestamp_nanos(at_ns);
                    let mut pages = pages.into_iter().map(|(u, delta)| {
                        let delta = if ns_page {
                            delta
                        } else {
                            delta / 1_000_000 * 1_000_000
                        };
                        (users[u], triggered_at + Duration::nanoseconds(delta))
                    });
                    IncidentSummary {
                        seq,
                        service_id: services[n % 2],
                        schedule_id: schedules[(n + 1) % 2],
                        severity: [Severity::Low, Severity::Medium, Severity::High]
                            [severity as usize],
                        triggered_at,
                        to_first_acknowledgement_ms: first,
                        acknowledged: ack.map(|ms| (ms, ack_user.map(|u| users[u]))),
                        to_resolution_ms: resolved,
                        escalated,
                        first_page: pages.next(),
                        later_pages: pages.collect(),
                    }
                },
            )
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

        /// The packed index gives back every summary exactly, in key order, whatever the
        /// insertion order and however many replacements.
        #[test]
        fn the_packed_index_returns_what_was_recorded(
            summaries in proptest::collection::vec(arbitrary_summary(), 0..3_000),
            replace in proptest::collection::vec(arbitrary_summary(), 0..50),
        ) {
            let index = AnalyticsIndex::default();
            let mut expected: std::collections::BTreeMap<(i64, u64), IncidentSummary> =
                std::collections::BTreeMap::new();
            // Seqs are unique per incident; a replacement keeps the incident's seq and
            // trigger instant and changes the rest.
            let mut summaries: Vec<IncidentSummary> = summaries
                .into_iter()
                .enumerate()
                .map(|(i, s)| IncidentSummary { seq: i as u64 + 1, ..s })
                .collect();
            let n = summaries.len();
            for (k, mut r) in replace.into_iter().enumerate() {
                if n == 0 {
                    break;
                }
                let target = &summaries[(k * 7919) % n];
                r.seq = target.seq;
                r.triggered_at = target.triggered_at;
                summaries.push(r);
            }
            for summary in summaries {
                expected.insert((nanos(summary.triggered_at), summary.seq), summary.clone());
                index.restore(summary);
            }
            proptest::prop_assert_eq!(index.len(), expected.len());
            let all = index.with_window(
                chrono::DateTime::from_timestamp_nanos(i64::MIN),
                chrono::DateTime::from_timestamp_nanos(i64::MAX),
                |s| s.collect::<Vec<_>>(),
            );
            let want: Vec<_> = expected.values().cloned().collect();
            proptest::prop_assert_eq!(&all, &want);
            // A window is exactly the summaries triggered inside it.
            if let (Some(first), Some(last)) = (want.first(), want.last()) {
                let mid = first.triggered_at + (last.triggered_at - first.triggered_at) / 2;
                let got = index.with_window(first.triggered_at, mid, |s| s.count());
                let count = want.iter().filter(|s| s.triggered_at >= first.triggered_at && s.triggered_at < mid).count();
                proptest::prop_assert_eq!(got, count);
            }
        }
    }

    #[test]
    fn a_plain_incident_packs_into_41_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 41);
    }

    #[test]
    fn past_sixty_five_thousand_users_a_summary_is_kept_whole_and_exact() {
        let mut packed = Packed::default();
        for _ in 0..u16::MAX {
            packed.users.number(UserId::new(), u32::from(NONE16));
        }
        let at = t(2026, 3, 1, 12, 0);
        let mut paged = summary(at);
        paged.first_page = Some((UserId::new(), at + chrono::Duration::seconds(3)));
        assert!(packed.pack(&paged).is_none(), "no u16 number is left");
        let mut acknowledged = summary(at + chrono::Duration::seconds(1));
        acknowledged.seq = 2;
        acknowledged.acknowledged = Some((5_000, Some(UserId::new())));
        assert!(packed.pack(&acknowledged).is_none());
        // A summary whose users already have numbers still packs.
        let mut known = summary(at + chrono::Duration::seconds(2));
        known.seq = 3;
        known.acknowledged = Some((7_000, packed.users.get(0)));
        known.first_page = packed
            .users
            .get(1)
            .map(|u| (u, at + chrono::Duration::seconds(4)));
        assert!(packed.pack(&known).is_some());
        for s in [&paged, &acknowledged, &known] {
            packed.insert(s.clone());
        }
        let back: Vec<_> = packed
            .range((i64::MIN, 0), (i64::MAX, u64::MAX))
            .filter_map(|e| packed.unpack(e))
            .collect();
        assert_eq!(back, vec![paged, acknowledged, known]);
        assert_eq!(packed.wide.len(), 2);
    }

    #[test]
    fn past_sixty_five_thousand_services_a_summary_is_kept_whole_and_exact() {
        let mut packed = Packed::default();
        for _ in 0..u16::MAX {
            packed
                .services
                .number(ServiceId::new(), u32::from(u16::MAX));
        }
        let at = t(2026, 3, 1, 12, 0);
        let first = summary(at);
        assert!(packed.pack(&first).is_none(), "no u16 number is left");
        let mut second = summary(at + chrono::Duration::seconds(1));
        second.seq = 2;
        packed.insert(first.clone());
        packed.insert(second.clone());
        let back: Vec<_> = packed
            .range((i64::MIN, 0), (i64::MAX, u64::MAX))
            .filter_map(|e| packed.unpack(e))
            .collect();
        assert_eq!(back, vec![first, second]);
        assert_eq!(packed.wide.len(), 2);
    }
}
