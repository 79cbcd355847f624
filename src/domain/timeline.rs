//! An incident's timeline, packed. Each record is encoded into one byte buffer, one after
//! another (8-60 bytes a record instead of the 104 of a [`TimelineRecord`] and the heap
//! strings it points at), and decoded when read. Timelines are written on every change but
//! read only when someone opens an incident, so the hot incidents carry the small form.
//!
//! The serialized form is unchanged: a sequence of [`TimelineRecord`]s.
//!
//! A record's bytes: its kind (and whether its instant is absolute, its actor Klaxon
//! itself, its detail prefixed), a flags byte (which optional parts follow, the actor's
//! kind, and what it repeats of the first records), the instant, the actor's id (16
//! bytes) if any and name (varint length, UTF-8), the user (16 bytes), the detail (varint
//! length, UTF-8) and the level (varint), each only when present. Most records repeat
//! what the first records say: the instant is a delta in nanoseconds from the first
//! record's (zigzag varint; absolute seconds and nanoseconds for the first record, a leap
//! second or a delta beyond 292 years); Klaxon as the actor, the first record's actor, and
//! the first user named among the first four records (the first page's, usually) are a
//! flag instead of their bytes. A detail that begins the way the domain's page details do
//! ("delivered via ") keeps that beginning as a one-byte index into a fixed table. A
//! record is then decoded with the first records before it; skipping one needs nothing,
//! and appending reads at most four.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use super::incident::{TimelineKind, TimelineRecord};
use super::{Actor, ActorKind, Timestamp, UserId};

const HAS_ACTOR_ID: u8 = 1;
const HAS_USER: u8 = 1 << 1;
const HAS_DETAIL: u8 = 1 << 2;
const HAS_LEVEL: u8 = 1 << 3;
const ACTOR_KIND_SHIFT: u8 = 4;
const ACTOR_KIND_MASK: u8 = 0b11;
/// The actor is the first record's: no id or name follows.
const SAME_ACTOR: u8 = 1 << 6;
/// The user is the first one named among the first records ([`Context`]): no id follows.
const SAME_USER: u8 = 1 << 7;
/// In the kind byte: the instant is absolute (seconds, nanoseconds), not a delta.
const ABSOLUTE_TIME: u8 = 0x80;
/// In the kind byte: the detail starts with one of [`DETAIL_PREFIXES`], written as its
/// index (one byte) before the rest of the text.
const DETAIL_PREFIXED: u8 = 0x40;
/// In the kind byte: the actor is Klaxon itself (no kind, id or name follows).
const SYSTEM_ACTOR: u8 = 0x20;
const KIND_MASK: u8 = 0x1f;
/// The records a later record may refer back to are among the first this many (see
/// [`Context`]), so appending reads at most this many, however long the timeline.
const ANCHOR_RECORDS: usize = 4;
/// How the details the domain writes most often begin: a page's ("triggered, via log"),
/// its delivery's ("delivered via email") and a failure's ("via sms after 3 attempts:
/// ..."). The table only grows at its end: an index, once written, keeps its prefix.
const DETAIL_PREFIXES: [&str; 8] = [
    "delivered via ",
    "triggered, via ",
    "escalated, via ",
    "manual, via ",
    "reassigned, via ",
    "retriggered, via ",
    "maintenance_ended, via ",
    "via ",
];
const NANOS_PER_SEC: i128 = 1_000_000_000;

const KINDS: [TimelineKind; 13] = [
    TimelineKind::Triggered,
    TimelineKind::AlertFolded,
    TimelineKind::Notified,
    TimelineKind::DeliveryFailed,
    TimelineKind::Escalated,
    TimelineKind::Acknowledged,
    TimelineKind::Note,
    TimelineKind::Reassigned,
    TimelineKind::Snoozed,
    TimelineKind::Retriggered,
    TimelineKind::Resolved,
    TimelineKind::PagingHeld,
    TimelineKind::PagingReleased,
];

const ACTOR_KINDS: [ActorKind; 4] = [
    ActorKind::User,
    ActorKind::ApiToken,
    ActorKind::Integration,
    ActorKind::System,
];

fn kind_code(kind: TimelineKind) -> u8 {
    KINDS.iter().position(|k| *k == kind).unwrap_or(0) as u8
}

fn actor_kind_code(kind: ActorKind) -> u8 {
    ACTOR_KINDS.iter().position(|k| *k == kind).unwrap_or(3) as u8
}

/// The records of one incident, oldest first, in their packed form.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    /// Exactly the encoded records (no spare capacity: an incident is cloned per change).
    bytes: Box<[u8]>,
}

impl Timeline {
    /// Appends a record.
    pub fn push(&mut self, record: TimelineRecord) {
        let mut bytes = Vec::with_capacity(self.bytes.len() + 64);
        bytes.extend_from_slice(&self.bytes);
        append(&mut bytes, &record);
        self.bytes = bytes.into_boxed_slice();
    }

    /// The records, oldest first, decoded one by one.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            reader: Reader::new(&self.bytes),
        }
    }

    /// How many records (counted without decoding their text).
    pub fn len(&self) -> usize {
        let mut reader = Reader::new(&self.bytes);
        let mut count = 0;
        while !reader.rest.is_empty() && reader.parts().is_some() {
            count += 1;
        }
        count
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The newest record (the others are read without allocating).
    pub fn last(&self) -> Option<TimelineRecord> {
        let mut reader = Reader::new(&self.bytes);
        let mut last = None;
        while !reader.rest.is_empty() {
            last = Some(reader.parts()?);
        }
        last?.into_record()
    }

    /// Forgets every record.
    pub fn clear(&mut self) {
        self.bytes = Box::default();
    }

    /// The records, decoded.
    pub fn to_vec(&self) -> Vec<TimelineRecord> {
        self.iter().collect()
    }

    /// Bytes the packed records take.
    pub fn packed_len(&self) -> usize {
        self.bytes.len()
    }
}

impl FromIterator<TimelineRecord> for Timeline {
    fn from_iter<I: IntoIterator<Item = TimelineRecord>>(records: I) -> Self {
        let mut bytes = Vec::new();
        for record in records {
            append(&mut bytes, &record);
        }
        Self {
            bytes: bytes.into_boxed_slice(),
        }
    }
}

impl From<Vec<TimelineRecord>> for Timeline {
    fn from(records: Vec<TimelineRecord>) -> Self {
        records.into_iter().collect()
    }
}

impl std::fmt::Debug for Timeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Timeline {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq as _;
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for record in self.iter() {
            seq.serialize_element(&record)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Timeline {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<TimelineRecord>::deserialize(deserializer).map(Self::from)
    }
}

/// Decodes records one at a time; stops at the end (or at bytes it cannot read, which
/// only [`Timeline::push`] writes, so never in practice).
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    reader: Reader<'a>,
}

impl Iterator for Iter<'_> {
    type Item = TimelineRecord;

    fn next(&mut self) -> Option<TimelineRecord> {
        if self.reader.rest.is_empty() {
            return None;
        }
        match self.reader.parts().and_then(Parts::into_record) {
            Some(record) => Some(record),
            None => {
                self.reader.rest = &[];
                None
            }
        }
    }
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

/// An instant in nanoseconds since the epoch; `None` in a leap second, whose nanoseconds
/// (1e9 and over) would not read back as the same instant.
fn nanos_of(at: Timestamp) -> Option<i128> {
    let nanos = at.timestamp_subsec_nanos();
    (i128::from(nanos) < NANOS_PER_SEC)
        .then(|| i128::from(at.timestamp()) * NANOS_PER_SEC + i128::from(nanos))
}

/// An actor as a record holds it, borrowed: what "the same actor" compares. The name's
/// bytes are checked to be UTF-8 only when the actor is decoded, so finding where a
/// timeline ends (every [`Timeline::push`]) reads no text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ActorRef<'a> {
    kind: ActorKind,
    id: Option<Uuid>,
    name: &'a [u8],
}

impl<'a> ActorRef<'a> {
    fn of(actor: &'a Actor) -> Self {
        Self {
            kind: actor.kind,
            id: actor.id,
            name: actor.name.as_bytes(),
        }
    }

    fn to_actor(self) -> Option<Actor> {
        let name = std::str::from_utf8(self.name).ok()?;
        Some(
            if self.kind == ActorKind::System && self.id.is_none() && name == "Klaxon" {
                Actor::system()
            } else {
                Actor {
                    kind: self.kind,
                    id: self.id,
                    name: name.into(),
                }
            },
        )
    }
}

/// What a record may refer back to, fixed by the first records: the first record's
/// instant and actor, and the first user named among the first [`ANCHOR_RECORDS`]
/// (usually the first page's). Anchored at the start rather than on the previous record,
/// so appending to a long timeline (a flapping alert folds thousands of records into
/// one) reads a few records, not all of them.
#[derive(Clone, Copy, Debug, Default)]
struct Context<'a> {
    at: Option<Timestamp>,
    actor: Option<ActorRef<'a>>,
    user: Option<UserId>,
    /// Records noted so far (counted up to [`ANCHOR_RECORDS`]).
    seen: usize,
}

impl<'a> Context<'a> {
    /// Takes note of the record just written or read.
    fn note(&mut self, at: Timestamp, actor: ActorRef<'a>, user: Option<UserId>) {
        if self.seen == 0 {
            self.at = Some(at);
            self.actor = Some(actor);
        }
        if self.seen < ANCHOR_RECORDS && self.user.is_none() {
            self.user = user;
        }
        self.seen = (self.seen + 1).min(ANCHOR_RECORDS);
    }

    /// Whether later records can change it no more.
    fn anchored(&self) -> bool {
        self.seen >= ANCHOR_RECORDS
    }
}

/// The context the next record of `bytes` is written in: at most [`ANCHOR_RECORDS`]
/// records read.
fn context_after(bytes: &[u8]) -> Context<'_> {
    let mut reader = Reader::new(bytes);
    while !reader.rest.is_empty() && !reader.context.anchored() && reader.parts().is_some() {}
    reader.context
}

/// Encodes `record` at the end of `bytes`.
fn append(bytes: &mut Vec<u8>, record: &TimelineRecord) {
    let mut encoded = Vec::with_capacity(64);
    encode(record, &context_after(bytes), &mut encoded);
    bytes.extend_from_slice(&encoded);
}

/// Klaxon itself, as a record holds it.
const SYSTEM: ActorRef<'static> = ActorRef {
    kind: ActorKind::System,
    id: None,
    name: b"Klaxon",
};

fn encode(record: &TimelineRecord, context: &Context<'_>, out: &mut Vec<u8>) {
    let actor = ActorRef::of(&record.actor);
    let system = actor == SYSTEM;
    let same_actor = !system && context.actor == Some(actor);
    let same_user = record.user.is_some() && record.user == context.user;
    let delta = context
        .at
        .and_then(nanos_of)
        .zip(nanos_of(record.at))
        .and_then(|(before, now)| i64::try_from(now - before).ok());
    let mut flags = actor_kind_code(record.actor.kind) << ACTOR_KIND_SHIFT;
    if same_actor {
        flags |= SAME_ACTOR;
    } else if system {
        // Said in the kind byte.
    } else if record.actor.id.is_some() {
        flags |= HAS_ACTOR_ID;
    }
    if record.user.is_some() {
        flags |= HAS_USER;
    }
    if same_user {
        flags |= SAME_USER;
    }
    if record.detail.is_some() {
        flags |= HAS_DETAIL;
    }
    if record.level.is_some() {
        flags |= HAS_LEVEL;
    }
    let prefix = record.detail.as_deref().and_then(|detail| {
        DETAIL_PREFIXES
            .iter()
            .position(|p| detail.starts_with(p))
            .map(|i| (i as u8, &detail[DETAIL_PREFIXES[i].len()..]))
    });
    let mut kind = kind_code(record.kind);
    if prefix.is_some() {
        kind |= DETAIL_PREFIXED;
    }
    if system {
        kind |= SYSTEM_ACTOR;
    }
    match delta {
        Some(delta) => {
            out.push(kind);
            out.push(flags);
            put_varint(out, zigzag(delta));
        }
        None => {
            out.push(kind | ABSOLUTE_TIME);
            out.push(flags);
            put_varint(out, zigzag(record.at.timestamp()));
            put_varint(out, u64::from(record.at.timestamp_subsec_nanos()));
        }
    }
    if !same_actor && !system {
        if let Some(id) = record.actor.id {
            out.extend_from_slice(id.as_bytes());
        }
        put_varint(out, record.actor.name.len() as u64);
        out.extend_from_slice(record.actor.name.as_bytes());
    }
    if let (Some(user), false) = (record.user, same_user) {
        out.extend_from_slice(user.0.as_bytes());
    }
    match (prefix, &record.detail) {
        (Some((index, rest)), _) => {
            out.push(index);
            put_varint(out, rest.len() as u64);
            out.extend_from_slice(rest.as_bytes());
        }
        (None, Some(detail)) => {
            put_varint(out, detail.len() as u64);
            out.extend_from_slice(detail.as_bytes());
        }
        (None, None) => {}
    }
    if let Some(level) = record.level {
        put_varint(out, u64::from(level));
    }
}

/// One record, read but borrowed: no allocation, and its text not yet checked to be
/// UTF-8, until [`Parts::into_record`].
struct Parts<'a> {
    kind: TimelineKind,
    at: Timestamp,
    actor: ActorRef<'a>,
    user: Option<UserId>,
    /// A prefix from [`DETAIL_PREFIXES`] (or none) and the rest of the text.
    detail: Option<(&'static str, &'a [u8])>,
    level: Option<u32>,
}

impl Parts<'_> {
    /// The record; `None` if its text is not UTF-8 (damaged bytes, never written so).
    fn into_record(self) -> Option<TimelineRecord> {
        let detail = match self.detail {
            Some((prefix, rest)) => Some([prefix, std::str::from_utf8(rest).ok()?].concat()),
            None => None,
        };
        Some(TimelineRecord {
            at: self.at,
            kind: self.kind,
            actor: self.actor.to_actor()?,
            user: self.user,
            detail,
            level: self.level,
        })
    }
}

#[derive(Clone, Debug)]
struct Reader<'a> {
    rest: &'a [u8],
    /// What the records read so far leave for the next to refer to.
    context: Context<'a>,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            context: Context::default(),
        }
    }

    fn byte(&mut self) -> Option<u8> {
        let (first, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(*first)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.rest.len() < n {
            return None;
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Some(taken)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    fn uuid(&mut self) -> Option<Uuid> {
        let bytes: [u8; 16] = self.take(16)?.try_into().ok()?;
        Some(Uuid::from_bytes(bytes))
    }

    /// A length-prefixed text's bytes (checked to be UTF-8 when decoded).
    fn text(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        self.take(len)
    }

    /// The next record, with what it refers back to filled in; it becomes the context.
    fn parts(&mut self) -> Option<Parts<'a>> {
        let kind_byte = self.byte()?;
        let kind = *KINDS.get(usize::from(kind_byte & KIND_MASK))?;
        let flags = self.byte()?;
        let at = if kind_byte & ABSOLUTE_TIME != 0 {
            let secs = unzigzag(self.varint()?);
            let nanos = u32::try_from(self.varint()?).ok()?;
            chrono::DateTime::from_timestamp(secs, nanos)?
        } else {
            let delta = i128::from(unzigzag(self.varint()?));
            let nanos = nanos_of(self.context.at?)? + delta;
            let secs = i64::try_from(nanos.div_euclid(NANOS_PER_SEC)).ok()?;
            let subsec = u32::try_from(nanos.rem_euclid(NANOS_PER_SEC)).ok()?;
            chrono::DateTime::from_timestamp(secs, subsec)?
        };
        let actor = if kind_byte & SYSTEM_ACTOR != 0 {
            SYSTEM
        } else if flags & SAME_ACTOR != 0 {
            self.context.actor?
        } else {
            let kind = ACTOR_KINDS[usize::from((flags >> ACTOR_KIND_SHIFT) & ACTOR_KIND_MASK)];
            let id = if flags & HAS_ACTOR_ID != 0 {
                Some(self.uuid()?)
            } else {
                None
            };
            ActorRef {
                kind,
                id,
                name: self.text()?,
            }
        };
        let user = match (flags & HAS_USER != 0, flags & SAME_USER != 0) {
            (false, _) => None,
            (true, true) => Some(self.context.user?),
            (true, false) => Some(UserId(self.uuid()?)),
        };
        let detail = match (flags & HAS_DETAIL != 0, kind_byte & DETAIL_PREFIXED != 0) {
            (false, _) => None,
            (true, false) => Some(("", self.text()?)),
            (true, true) => {
                let prefix = *DETAIL_PREFIXES.get(usize::from(self.byte()?))?;
                Some((prefix, self.text()?))
            }
        };
        let level = if flags & HAS_LEVEL != 0 {
            Some(u32::try_from(self.varint()?).ok()?)
        } else {
            None
        };
        self.context.note(at, actor, user);
        Some(Parts {
            kind,
            at,
            actor,
            user,
            detail,
            level,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arbitrary_record() -> impl Strategy<Value = TimelineRecord> {
        (
            (0..KINDS.len(), 0..ACTOR_KINDS.len()),
            // Any instant chrono represents, to the nanosecond (leap seconds included).
            (
                -8_000_000_000_000i64..8_000_000_000_000,
                0u32..2_000_000_000,
            ),
            proptest::option::of(any::<[u8; 16]>()),
            ".{0,12}",
            proptest::option::of(any::<[u8; 16]>()),
            proptest::option::of(".{0,40}"),
            proptest::option::of(any::<u32>()),
        )
            .prop_filter_map(
                "an instant chrono represents",
                |((kind, actor_kind), (secs, nanos), actor_id, name, user, detail, level)| {
                    Some(TimelineRecord {
                        at: chrono::DateTime::from_timestamp(secs, nanos)?,
                        kind: KINDS[kind],
                        actor: Actor {
                            kind: ACTOR_KINDS[actor_kind],
                            id: actor_id.map(Uuid::from_bytes),
                            name: name.into(),
                        },
                        user: user.map(|u| UserId(Uuid::from_bytes(u))),
                        detail,
                        level,
                    })
                },
            )
    }

    proptest! {
        #[test]
        fn records_read_back_exactly_as_pushed(records in prop_oneof![
            proptest::collection::vec(arbitrary_record(), 0..12),
            repeating_records(),
        ]) {
            let mut timeline = Timeline::default();
            for (i, record) in records.iter().enumerate() {
                timeline.push(record.clone());
                prop_assert_eq!(timeline.len(), i + 1);
                prop_assert_eq!(timeline.last(), Some(record.clone()));
            }
            prop_assert_eq!(timeline.to_vec(), records.clone());
            prop_assert_eq!(Timeline::from(records.clone()), timeline.clone());
            // The serialized form is the records' sequence, as before the packing.
            let packed = rmp_serde::to_vec_named(&timeline).unwrap();
            let plain = rmp_serde::to_vec_named(&records).unwrap();
            prop_assert_eq!(&packed, &plain);
            let back: Timeline = rmp_serde::from_slice(&plain).unwrap();
            prop_assert_eq!(back, timeline);
        }
    }

    /// Records as incidents write them: a few actors and users over and over, instants
    /// close together (and now and then a leap second or a jump back).
    fn repeating_records() -> impl Strategy<Value = Vec<TimelineRecord>> {
        let actors = [
            Actor::system(),
            Actor {
                kind: ActorKind::User,
                id: Some(Uuid::from_bytes([1; 16])),
                name: "Ada".into(),
            },
            Actor {
                kind: ActorKind::Integration,
                id: Some(Uuid::from_bytes([2; 16])),
                name: "alertmanager".into(),
            },
        ];
        let step = (
            0..KINDS.len(),
            0..actors.len(),
            proptest::option::of(0u8..3),
            prop_oneof![
                4 => 0i64..5_000_000_000,
                1 => -5_000_000_000i64..0,
                1 => Just(i64::MAX / 2),
            ],
            any::<bool>(),
            proptest::option::of("(delivered via |triggered, via |via |)[a-z ]{0,12}"),
        );
        proptest::collection::vec(step, 0..16).prop_map(move |steps| {
            let mut at = chrono::DateTime::from_timestamp(1_800_000_000, 5).unwrap();
            steps
                .into_iter()
                .map(|(kind, actor, user, step, leap, detail)| {
                    at = at
                        .checked_add_signed(chrono::TimeDelta::nanoseconds(step))
                        .unwrap_or(at);
                    let at = if leap {
                        chrono::DateTime::from_timestamp(at.timestamp(), 1_500_000_000)
                            .unwrap_or(at)
                    } else {
                        at
                    };
                    TimelineRecord {
                        at,
                        kind: KINDS[kind],
                        actor: actors[actor].clone(),
                        user: user.map(|u| UserId(Uuid::from_bytes([u + 10; 16]))),
                        detail,
                        level: None,
                    }
                })
                .collect()
        })
    }

    #[test]
    fn a_record_is_a_fraction_of_its_struct() {
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 123_456_789).unwrap();
        let timeline: Timeline = vec![
            TimelineRecord {
                at,
                kind: TimelineKind::Triggered,
                actor: Actor::system(),
                user: None,
                detail: None,
                level: Some(0),
            },
            TimelineRecord {
                at,
                kind: TimelineKind::Notified,
                actor: Actor::system(),
                user: Some(UserId(Uuid::from_bytes([9; 16]))),
                detail: Some("log".into()),
                level: None,
            },
        ]
        .into();
        assert_eq!(timeline.len(), 2);
        assert!(timeline.packed_len() <= 2 * 40, "{}", timeline.packed_len());
        // A page, then its delivery: the same actor and user, a few milliseconds later.
        let mut paged = timeline.clone();
        let before = paged.packed_len();
        paged.push(TimelineRecord {
            at: at + chrono::TimeDelta::milliseconds(3),
            kind: TimelineKind::Notified,
            actor: Actor::system(),
            user: Some(UserId(Uuid::from_bytes([9; 16]))),
            detail: Some("delivered via log".into()),
            level: None,
        });
        // Two bytes of kind and flags, the delta, one of prefix and four of "log".
        assert!(
            paged.packed_len() - before <= 12,
            "{}",
            paged.packed_len() - before
        );
        // The system actor decodes to the shared one, not a fresh name.
        let first = timeline.iter().next().unwrap();
        assert!(std::sync::Arc::ptr_eq(
            &first.actor.name,
            &Actor::system().name
        ));
    }

    #[test]
    fn appending_reads_only_the_first_records() {
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let alice = UserId(Uuid::from_bytes([7; 16]));
        let record = |kind, user| TimelineRecord {
            at,
            kind,
            actor: Actor::system(),
            user,
            detail: None,
            level: None,
        };
        let timeline: Timeline = vec![
            record(TimelineKind::Triggered, None),
            record(TimelineKind::Notified, Some(alice)),
            record(TimelineKind::Note, None),
            record(TimelineKind::Note, None),
        ]
        .into();
        // Whatever follows the first records is not read to append.
        let mut bytes = timeline.bytes.to_vec();
        bytes.extend_from_slice(&[KIND_MASK, 0xff, 0xff]);
        let context = context_after(&bytes);
        assert!(context.anchored());
        assert_eq!(context.at, Some(at));
        assert_eq!(context.user, Some(alice), "the first page's user");
    }

    #[test]
    fn damaged_bytes_end_the_records_without_a_panic() {
        let record = TimelineRecord {
            at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            kind: TimelineKind::Note,
            actor: Actor::user(UserId(Uuid::from_bytes([4; 16])), "Klaxon fan"),
            user: None,
            detail: Some("disk full".into()),
            level: None,
        };
        let whole: Timeline = vec![record.clone(), record].into();
        for cut in 0..whole.bytes.len() {
            let damaged = Timeline {
                bytes: whole.bytes[..cut].into(),
            };
            assert!(damaged.len() <= 1);
        }
        // A name that is not UTF-8: counted (counting reads no text), never decoded.
        let mut bad_name = whole.bytes.to_vec();
        let at = bad_name
            .windows(6)
            .position(|w| w == b"Klaxon")
            .expect("the actor's name");
        bad_name[at] = 0xff;
        let damaged = Timeline {
            bytes: bad_name.into(),
        };
        assert_eq!(damaged.len(), 2);
        assert!(damaged.to_vec().is_empty());
        assert_eq!(damaged.last(), None);
        let mut bad_kind = whole.bytes.to_vec();
        bad_kind[0] = KIND_MASK;
        let damaged = Timeline {
            bytes: bad_kind.into(),
        };
        assert_eq!(damaged.len(), 0);
    }
}
