//! The on-disk form of retired incidents' analytics summaries inside a snapshot chunk.
//!
//! A year of history holds millions of retired incidents, and a snapshot keeps one summary
//! for each. Written as MessagePack maps with field names (every other snapshot entity's
//! form) each costs ~250 bytes and a few microseconds to decode, which made start-up follow
//! the history's length. Here a chunk's summaries are one binary blob instead: a table of
//! the ids they name (services, schedules, users), then each summary in a few dozen fixed
//! little-endian bytes with ids as indexes into that table. Decoding is a bounds-checked
//! walk with no allocation per summary beyond its (rare) later pages.
//!
//! The field of [`super::codec::SnapshotChunk`] is written in this form and read in either
//! form: a snapshot taken before it (a MessagePack array of maps) still loads. A build
//! older than this form finds bytes where it expects an array, calls the snapshot unusable
//! and replays the whole journal instead: slower, never wrong. Encoding is only asked of a
//! snapshot chunk's summaries (at most `CHUNK_ENTITIES`), so every count fits its `u32`.
//!
//! Layout (all integers little-endian):
//! - `u8` format (1);
//! - `u32` id count, then each id's 16 bytes;
//! - `u32` summary count, then per summary: `u64` seq, `u32` service and `u32` schedule
//!   (id indexes), `u8` flags, the trigger instant (`i64` seconds, `u32` nanoseconds), then
//!   only what the flags say is present: `i64` first-acknowledgement ms; `i64` standing
//!   acknowledgement ms and, if a person made it, `u32` user; `i64` resolution ms; the
//!   first page (`u32` user, instant); and last a `u32` count of later pages, each a `u32`
//!   user and an instant.

use std::collections::HashMap;

use serde::Serializer;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use uuid::Uuid;

use super::analytics::IncidentSummary;
use crate::domain::{ScheduleId, ServiceId, Severity, Timestamp, UserId};

const FORMAT: u8 = 1;

const SEVERITY: u8 = 0b11;
const ESCALATED: u8 = 1 << 2;
const FIRST_ACK: u8 = 1 << 3;
const ACK: u8 = 1 << 4;
const ACK_USER: u8 = 1 << 5;
const RESOLVED: u8 = 1 << 6;
const PAGED: u8 = 1 << 7;

/// Why a blob could not be read back.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SummariesError {
    /// The blob ends before what it announces.
    #[error("retired summaries end early (at byte {0})")]
    Truncated(usize),
    /// A format this build does not know.
    #[error("retired summaries in format {0}, newer than this build understands")]
    Format(u8),
    /// An id index past the id table, a severity out of range, an instant out of range.
    #[error("retired summaries damaged: {0}")]
    Damaged(&'static str),
}

/// Encodes `summaries` into one blob.
pub fn encode(summaries: &[IncidentSummary]) -> Vec<u8> {
    let mut ids: Vec<Uuid> = Vec::new();
    let mut index: HashMap<Uuid, u32> = HashMap::new();
    let mut number = |id: Uuid| -> u32 {
        *index.entry(id).or_insert_with(|| {
            ids.push(id);
            // The table holds at most three ids per summary, and a chunk far fewer
            // summaries than u32::MAX / 3.
            (ids.len() - 1) as u32
        })
    };
    let mut body = Vec::with_capacity(summaries.len() * 48);
    for s in summaries {
        body.extend_from_slice(&s.seq.to_le_bytes());
        body.extend_from_slice(&number(s.service_id.0).to_le_bytes());
        body.extend_from_slice(&number(s.schedule_id.0).to_le_bytes());
        let mut flags = match s.severity {
            Severity::Low => 0,
            Severity::Medium => 1,
            Severity::High => 2,
        };
        if s.escalated {
            flags |= ESCALATED;
        }
        if s.to_first_acknowledgement_ms.is_some() {
            flags |= FIRST_ACK;
        }
        if let Some((_, user)) = s.acknowledged {
            flags |= ACK;
            if user.is_some() {
                flags |= ACK_USER;
            }
        }
        if s.to_resolution_ms.is_some() {
            flags |= RESOLVED;
        }
        if s.first_page.is_some() {
            flags |= PAGED;
        }
        body.push(flags);
        instant(&mut body, s.triggered_at);
        if let Some(ms) = s.to_first_acknowledgement_ms {
            body.extend_from_slice(&ms.to_le_bytes());
        }
        if let Some((ms, user)) = s.acknowledged {
            body.extend_from_slice(&ms.to_le_bytes());
            if let Some(user) = user {
                body.extend_from_slice(&number(user.0).to_le_bytes());
            }
        }
        if let Some(ms) = s.to_resolution_ms {
            body.extend_from_slice(&ms.to_le_bytes());
        }
        if let Some((user, at)) = s.first_page {
            body.extend_from_slice(&number(user.0).to_le_bytes());
            instant(&mut body, at);
        }
        body.extend_from_slice(&(s.later_pages.len() as u32).to_le_bytes());
        for (user, at) in s.later_pages.iter() {
            body.extend_from_slice(&number(user.0).to_le_bytes());
            instant(&mut body, *at);
        }
    }
    let mut out = Vec::with_capacity(9 + ids.len() * 16 + body.len());
    out.push(FORMAT);
    out.extend_from_slice(&(ids.len() as u32).to_le_bytes());
    for id in &ids {
        out.extend_from_slice(id.as_bytes());
    }
    out.extend_from_slice(&(summaries.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

fn instant(out: &mut Vec<u8>, at: Timestamp) {
    out.extend_from_slice(&at.timestamp().to_le_bytes());
    out.extend_from_slice(&at.timestamp_subsec_nanos().to_le_bytes());
}

/// A bounds-checked reader over a blob.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], SummariesError> {
        let end = self
            .at
            .checked_add(N)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(SummariesError::Truncated(self.at))?;
        let mut out = [0; N];
        out.copy_from_slice(&self.bytes[self.at..end]);
        self.at = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, SummariesError> {
        Ok(self.take::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, SummariesError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, SummariesError> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    fn i64(&mut self) -> Result<i64, SummariesError> {
        Ok(i64::from_le_bytes(self.take()?))
    }
    fn instant(&mut self) -> Result<Timestamp, SummariesError> {
        let secs = self.i64()?;
        let nanos = self.u32()?;
        chrono::DateTime::from_timestamp(secs, nanos)
            .ok_or(SummariesError::Damaged("an instant out of range"))
    }
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }
}

/// Decodes a blob written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Vec<IncidentSummary>, SummariesError> {
    let mut r = Reader { bytes, at: 0 };
    let format = r.u8()?;
    if format != FORMAT {
        return Err(SummariesError::Format(format));
    }
    let id_count = r.u32()? as usize;
    // Announced sizes are checked against what is there before anything is allocated.
    if id_count > r.left() / 16 {
        return Err(SummariesError::Truncated(r.left()));
    }
    let mut ids = Vec::with_capacity(id_count);
    for _ in 0..id_count {
        ids.push(Uuid::from_bytes(r.take()?));
    }
    let id = |n: u32| -> Result<Uuid, SummariesError> {
        ids.get(n as usize)
            .copied()
            .ok_or(SummariesError::Damaged("an id index past the id table"))
    };
    let count = r.u32()? as usize;
    // The smallest summary is 33 bytes.
    if count > r.left() / 33 {
        return Err(SummariesError::Truncated(r.left()));
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let seq = r.u64()?;
        let service_id = ServiceId(id(r.u32()?)?);
        let schedule_id = ScheduleId(id(r.u32()?)?);
        let flags = r.u8()?;
        let severity = match flags & SEVERITY {
            0 => Severity::Low,
            1 => Severity::Medium,
            2 => Severity::High,
            _ => return Err(SummariesError::Damaged("a severity out of range")),
        };
        let triggered_at = r.instant()?;
        let to_first_acknowledgement_ms = (flags & FIRST_ACK != 0).then(|| r.i64()).transpose()?;
        let acknowledged = if flags & ACK != 0 {
            let ms = r.i64()?;
            let user = (flags & ACK_USER != 0)
                .then(|| r.u32().and_then(|n| id(n).map(UserId)))
                .transpose()?;
            Some((ms, user))
        } else {
            None
        };
        let to_resolution_ms = (flags & RESOLVED != 0).then(|| r.i64()).transpose()?;
        let first_page = if flags & PAGED != 0 {
            let user = UserId(id(r.u32()?)?);
            Some((user, r.instant()?))
        } else {
            None
        };
        let later = r.u32()? as usize;
        if later > r.left() / 16 {
            return Err(SummariesError::Truncated(r.left()));
        }
        let mut later_pages = Vec::with_capacity(later);
        for _ in 0..later {
            let user = UserId(id(r.u32()?)?);
            later_pages.push((user, r.instant()?));
        }
        out.push(IncidentSummary {
            seq,
            service_id,
            schedule_id,
            severity,
            triggered_at,
            to_first_acknowledgement_ms,
            acknowledged,
            to_resolution_ms,
            escalated: flags & ESCALATED != 0,
            first_page,
            later_pages: later_pages.into_boxed_slice(),
        });
    }
    if r.left() != 0 {
        return Err(SummariesError::Damaged("bytes after the last summary"));
    }
    Ok(out)
}

/// `#[serde(with = "...")]` for a chunk's summaries: written as one binary blob, read from
/// a blob or from the array of maps older snapshots hold.
pub mod serde_form {
    use super::*;

    /// Writes the blob (a MessagePack `bin`, not an array of numbers).
    pub fn serialize<S: Serializer>(
        summaries: &[IncidentSummary],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&encode(summaries))
    }

    /// Reads the blob, or the older array of maps.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<IncidentSummary>, D::Error> {
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = Vec<IncidentSummary>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("retired summaries: a binary blob or an array of maps")
            }
            fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Self::Value, E> {
                decode(bytes).map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                // The size hint comes from the data: cap what is reserved up front.
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(summary) = seq.next_element()? {
                    out.push(summary);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_any(Either)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::analytics::tests::arbitrary_summary;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;

    proptest! {
        #[test]
        fn summaries_come_back_exactly(summaries in prop::collection::vec(arbitrary_summary(), 0..60)) {
            let blob = encode(&summaries);
            prop_assert_eq!(decode(&blob).unwrap(), summaries);
        }

        #[test]
        fn a_cut_or_damaged_blob_is_an_error_never_a_panic(
            summaries in prop::collection::vec(arbitrary_summary(), 1..20),
            cut in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let blob = encode(&summaries);
            let short = &blob[..cut.index(blob.len())];
            prop_assert!(decode(short).is_err());
            let mut damaged = blob.clone();
            let at = flip.index(damaged.len());
            damaged[at] ^= 1 << bit;
            // Either an error or some summaries (the chunk's checksum catches the rest):
            // never a panic.
            let _ = decode(&damaged);
        }
    }

    #[test]
    fn a_snapshot_field_reads_the_blob_and_the_older_array_of_maps() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct New {
            #[serde(with = "serde_form")]
            s: Vec<IncidentSummary>,
        }
        #[derive(serde::Serialize)]
        struct Old {
            s: Vec<IncidentSummary>,
        }
        let runner = &mut proptest::test_runner::TestRunner::deterministic();
        let summaries: Vec<IncidentSummary> = (0..5)
            .map(|_| arbitrary_summary().new_tree(runner).unwrap().current())
            .collect();
        let new = rmp_serde::to_vec_named(&New {
            s: summaries.clone(),
        })
        .unwrap();
        let old = rmp_serde::to_vec_named(&Old {
            s: summaries.clone(),
        })
        .unwrap();
        assert!(new.len() < old.len() / 2, "{} vs {}", new.len(), old.len());
        let from_new: New = rmp_serde::from_slice(&new).unwrap();
        let from_old: New = rmp_serde::from_slice(&old).unwrap();
        assert_eq!(from_new.s, summaries);
        assert_eq!(from_old.s, summaries);
    }

    #[test]
    fn the_edges_of_every_field_come_back_exactly() {
        let user = UserId::new();
        let edge = |secs: i64, nanos: u32| chrono::DateTime::from_timestamp(secs, nanos).unwrap();
        let summaries = vec![
            IncidentSummary {
                seq: u64::MAX,
                service_id: ServiceId::new(),
                schedule_id: ScheduleId::new(),
                severity: Severity::Low,
                // Long before the epoch.
                triggered_at: edge(-62_000_000_000, 999_999_999),
                to_first_acknowledgement_ms: Some(i64::MIN),
                acknowledged: Some((i64::MAX, Some(user))),
                to_resolution_ms: Some(-1),
                escalated: true,
                first_page: Some((user, edge(250_000_000_000, 0))),
                // A leap second (nanoseconds past 10^9 on a :59), and just before the epoch.
                later_pages: vec![
                    (user, edge(59, 1_500_000_000)),
                    (UserId::new(), edge(-1, 999_999_999)),
                ]
                .into_boxed_slice(),
            },
            IncidentSummary {
                seq: 0,
                service_id: ServiceId::new(),
                schedule_id: ScheduleId::new(),
                severity: Severity::Medium,
                triggered_at: edge(0, 0),
                to_first_acknowledgement_ms: None,
                acknowledged: Some((0, None)),
                to_resolution_ms: None,
                escalated: false,
                first_page: None,
                later_pages: Box::new([]),
            },
        ];
        assert_eq!(decode(&encode(&summaries)).unwrap(), summaries);
    }

    #[test]
    fn a_huge_announced_count_is_refused_before_allocating() {
        let mut blob = vec![FORMAT];
        blob.extend_from_slice(&0u32.to_le_bytes());
        blob.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode(&blob), Err(SummariesError::Truncated(_))));
        let mut blob = vec![FORMAT];
        blob.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode(&blob), Err(SummariesError::Truncated(_))));
        assert_eq!(decode(&[9]), Err(SummariesError::Format(9)));
    }
}
