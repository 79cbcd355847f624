//! An incident's timeline, packed. Each record is encoded into one byte buffer, one after
//! another (20-60 bytes a record instead of the 104 of a [`TimelineRecord`] and the heap
//! strings it points at), and decoded when read. Timelines are written on every change but
//! read only when someone opens an incident, so the hot incidents carry the small form.
//!
//! The serialized form is unchanged: a sequence of [`TimelineRecord`]s.
//!
//! A record's bytes: its kind, a flags byte (which optional parts follow, and the actor's
//! kind), the instant (seconds since the epoch, zigzag varint; nanoseconds, varint), the
//! actor's id (16 bytes) if any and name (varint length, UTF-8), the user (16 bytes), the
//! detail (varint length, UTF-8) and the level (varint), each only when present.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use super::incident::{TimelineKind, TimelineRecord};
use super::{Actor, ActorKind, Timestamp, UserId};

const HAS_ACTOR_ID: u8 = 1;
const HAS_USER: u8 = 1 << 1;
const HAS_DETAIL: u8 = 1 << 2;
const HAS_LEVEL: u8 = 1 << 3;
const ACTOR_KIND_SHIFT: u8 = 4;

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
        let mut bytes = Vec::with_capacity(self.bytes.len() + encoded_len(&record));
        bytes.extend_from_slice(&self.bytes);
        encode(&record, &mut bytes);
        self.bytes = bytes.into_boxed_slice();
    }

    /// The records, oldest first, decoded one by one.
    pub fn iter(&self) -> Iter<'_> {
        Iter { rest: &self.bytes }
    }

    /// How many records (counted without decoding them).
    pub fn len(&self) -> usize {
        let mut reader = Reader { rest: &self.bytes };
        let mut count = 0;
        while !reader.rest.is_empty() && reader.skip().is_some() {
            count += 1;
        }
        count
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The newest record (the others are skipped, not decoded).
    pub fn last(&self) -> Option<TimelineRecord> {
        let mut reader = Reader { rest: &self.bytes };
        let mut last = None;
        while !reader.rest.is_empty() {
            let start = reader.rest;
            reader.skip()?;
            last = Some(start);
        }
        Reader { rest: last? }.record()
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
            encode(&record, &mut bytes);
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
    rest: &'a [u8],
}

impl Iterator for Iter<'_> {
    type Item = TimelineRecord;

    fn next(&mut self) -> Option<TimelineRecord> {
        if self.rest.is_empty() {
            return None;
        }
        let mut reader = Reader { rest: self.rest };
        match reader.record() {
            Some(record) => {
                self.rest = reader.rest;
                Some(record)
            }
            None => {
                self.rest = &[];
                None
            }
        }
    }
}

fn varint_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
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

fn encoded_len(record: &TimelineRecord) -> usize {
    let name = record.actor.name.len();
    2 + varint_len(zigzag(record.at.timestamp()))
        + varint_len(u64::from(record.at.timestamp_subsec_nanos()))
        + record.actor.id.map_or(0, |_| 16)
        + varint_len(name as u64)
        + name
        + record.user.map_or(0, |_| 16)
        + record
            .detail
            .as_ref()
            .map_or(0, |d| varint_len(d.len() as u64) + d.len())
        + record.level.map_or(0, |l| varint_len(u64::from(l)))
}

fn encode(record: &TimelineRecord, out: &mut Vec<u8>) {
    let mut flags = actor_kind_code(record.actor.kind) << ACTOR_KIND_SHIFT;
    if record.actor.id.is_some() {
        flags |= HAS_ACTOR_ID;
    }
    if record.user.is_some() {
        flags |= HAS_USER;
    }
    if record.detail.is_some() {
        flags |= HAS_DETAIL;
    }
    if record.level.is_some() {
        flags |= HAS_LEVEL;
    }
    out.push(kind_code(record.kind));
    out.push(flags);
    put_varint(out, zigzag(record.at.timestamp()));
    put_varint(out, u64::from(record.at.timestamp_subsec_nanos()));
    if let Some(id) = record.actor.id {
        out.extend_from_slice(id.as_bytes());
    }
    put_varint(out, record.actor.name.len() as u64);
    out.extend_from_slice(record.actor.name.as_bytes());
    if let Some(user) = record.user {
        out.extend_from_slice(user.0.as_bytes());
    }
    if let Some(detail) = &record.detail {
        put_varint(out, detail.len() as u64);
        out.extend_from_slice(detail.as_bytes());
    }
    if let Some(level) = record.level {
        put_varint(out, u64::from(level));
    }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
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

    fn text(&mut self) -> Option<&'a str> {
        let len = usize::try_from(self.varint()?).ok()?;
        std::str::from_utf8(self.take(len)?).ok()
    }

    /// Steps over one record without allocating.
    fn skip(&mut self) -> Option<()> {
        KINDS.get(usize::from(self.byte()?))?;
        let flags = self.byte()?;
        self.varint()?;
        self.varint()?;
        if flags & HAS_ACTOR_ID != 0 {
            self.take(16)?;
        }
        self.text()?;
        if flags & HAS_USER != 0 {
            self.take(16)?;
        }
        if flags & HAS_DETAIL != 0 {
            self.text()?;
        }
        if flags & HAS_LEVEL != 0 {
            self.varint()?;
        }
        Some(())
    }

    fn record(&mut self) -> Option<TimelineRecord> {
        let kind = *KINDS.get(usize::from(self.byte()?))?;
        let flags = self.byte()?;
        let secs = unzigzag(self.varint()?);
        let nanos = u32::try_from(self.varint()?).ok()?;
        let at: Timestamp = chrono::DateTime::from_timestamp(secs, nanos)?;
        let actor_kind = *ACTOR_KINDS.get(usize::from(flags >> ACTOR_KIND_SHIFT))?;
        let actor_id = if flags & HAS_ACTOR_ID != 0 {
            Some(self.uuid()?)
        } else {
            None
        };
        let name = self.text()?;
        let actor = if actor_kind == ActorKind::System && actor_id.is_none() && name == "Klaxon" {
            Actor::system()
        } else {
            Actor {
                kind: actor_kind,
                id: actor_id,
                name: name.into(),
            }
        };
        let user = if flags & HAS_USER != 0 {
            Some(UserId(self.uuid()?))
        } else {
            None
        };
        let detail = if flags & HAS_DETAIL != 0 {
            Some(self.text()?.to_owned())
        } else {
            None
        };
        let level = if flags & HAS_LEVEL != 0 {
            Some(u32::try_from(self.varint()?).ok()?)
        } else {
            None
        };
        Some(TimelineRecord {
            at,
            kind,
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
        fn records_read_back_exactly_as_pushed(records in proptest::collection::vec(arbitrary_record(), 0..12)) {
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
        // The system actor decodes to the shared one, not a fresh name.
        let first = timeline.iter().next().unwrap();
        assert!(std::sync::Arc::ptr_eq(
            &first.actor.name,
            &Actor::system().name
        ));
    }

    #[test]
    fn damaged_bytes_end_the_records_without_a_panic() {
        let record = TimelineRecord {
            at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            kind: TimelineKind::Note,
            actor: Actor::system(),
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
        let mut bad_kind = whole.bytes.to_vec();
        bad_kind[0] = 200;
        let damaged = Timeline {
            bytes: bad_kind.into(),
        };
        assert_eq!(damaged.len(), 0);
    }
}
