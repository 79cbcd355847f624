//! How events and snapshots are written to disk: the schema version, the byte encoding and
//! the checksum that lets a damaged record be found and named.
//!
//! This module owns the on-disk shape of one record and nothing else: it never opens a file
//! and never touches the serving state. Every format change adds a new version here and keeps
//! the decoder for every older one, so a journal written by any earlier release still loads.

use serde::{Deserialize, Serialize};

use crate::domain::{ApiToken, Event, Incident, Schedule, Service, Session, User};

/// The schema version written into every new event and snapshot record.
///
/// Version 1: MessagePack with field names (`rmp_serde::to_vec_named`). Self-describing,
/// so the internally tagged `Event` enum decodes, fields can be added with
/// `#[serde(default)]` without a new version, and ids are 16 raw bytes rather than 36
/// characters of text.
pub const SCHEMA_VERSION: u32 = 1;

/// Why a record could not be turned back into a value.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The bytes do not match the checksum stored beside them.
    #[error("checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Checksum {
        /// The checksum stored in the row.
        stored: u32,
        /// The checksum of the bytes read.
        computed: u32,
    },
    /// A version this build does not know (written by a newer Klaxon).
    #[error("schema version {0} is newer than this build understands (up to {SCHEMA_VERSION})")]
    UnknownVersion(u32),
    /// The checksum matched but the bytes do not decode (a bug, or a deliberate edit).
    #[error("undecodable payload: {0}")]
    Decode(String),
    /// A value could not be encoded (should not happen for domain types).
    #[error("could not encode: {0}")]
    Encode(String),
}

/// One chunk of a snapshot: a slice of every entity kind. A snapshot is split into chunks
/// so that writing it never holds the journal's writer for long and decoding can be spread
/// over threads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotChunk {
    /// Users, deleted ones included (tombstones keep history resolvable).
    #[serde(default)]
    pub users: Vec<User>,
    /// Services, deleted ones included.
    #[serde(default)]
    pub services: Vec<Service>,
    /// Schedules, deleted ones included.
    #[serde(default)]
    pub schedules: Vec<Schedule>,
    /// Incidents, each in its latest state.
    #[serde(default)]
    pub incidents: Vec<Incident>,
    /// API tokens, revoked ones included.
    #[serde(default)]
    pub api_tokens: Vec<ApiToken>,
    /// Live login sessions.
    #[serde(default)]
    pub sessions: Vec<Session>,
    /// Monitoring integrations, deleted ones included.
    #[serde(default)]
    pub integrations: Vec<crate::domain::Integration>,
    /// Heartbeats, deleted ones included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heartbeats: Vec<crate::domain::Heartbeat>,
    /// Contact methods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contact_methods: Vec<crate::domain::contact::ContactMethod>,
    /// Notification rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notification_rules: Vec<crate::domain::contact::NotificationRule>,
    /// The email link key (in the first chunk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_key: Option<crate::domain::integration::IntegrationSecret>,
    /// Outbound webhooks, deleted ones included. Restored after the incidents (a restored
    /// incident must not look like a new trigger to a webhook).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<crate::domain::Webhook>,
    /// The webhook deliveries in memory: every pending one and the latest finished ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhook_deliveries: Vec<crate::domain::WebhookDelivery>,
    /// Analytics summaries of retired incidents (not in `incidents`), written as one
    /// compact blob ([`super::summaries`]); older snapshots' array of maps reads too.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "super::summaries::serde_form"
    )]
    pub retired_summaries: Vec<super::analytics::IncidentSummary>,
    /// The last webhook delivery `seq` handed out (deliveries dropped from memory took
    /// theirs with them).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub webhook_delivery_seq: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl SnapshotChunk {
    /// How many entities the chunk holds.
    pub fn len(&self) -> usize {
        self.users.len()
            + self.services.len()
            + self.schedules.len()
            + self.incidents.len()
            + self.api_tokens.len()
            + self.sessions.len()
            + self.integrations.len()
            + self.heartbeats.len()
            + self.contact_methods.len()
            + self.notification_rules.len()
            + usize::from(self.link_key.is_some())
            + self.webhooks.len()
            + self.webhook_deliveries.len()
            + self.retired_summaries.len()
    }

    /// Whether the chunk holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// MessagePack with field names (schema version 1), into a buffer sized for an incident.
fn encode_named<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    // An opened incident encodes to about 1.5 KB: start there instead of growing from 0.
    let mut bytes = Vec::with_capacity(2048);
    rmp_serde::encode::write_named(&mut bytes, value)
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    Ok(bytes)
}

/// Decodes a record written with schema `version`.
fn decode_versioned<T: serde::de::DeserializeOwned>(
    version: u32,
    bytes: &[u8],
) -> Result<T, CodecError> {
    match version {
        1 => rmp_serde::from_slice(bytes).map_err(|e| CodecError::Decode(e.to_string())),
        other => Err(CodecError::UnknownVersion(other)),
    }
}

/// Encodes an event with the current schema version.
pub fn encode_event(event: &Event) -> Result<Vec<u8>, CodecError> {
    encode_named(event)
}

/// Decodes an event written with schema `version`.
pub fn decode_event(version: u32, bytes: &[u8]) -> Result<Event, CodecError> {
    decode_versioned(version, bytes)
}

/// Encodes one incident (a cold row) with the current schema version.
pub fn encode_incident(incident: &Incident) -> Result<Vec<u8>, CodecError> {
    encode_named(incident)
}

/// Decodes one incident written with schema `version`.
pub fn decode_incident(version: u32, bytes: &[u8]) -> Result<Incident, CodecError> {
    decode_versioned(version, bytes)
}

/// Encodes a snapshot chunk with the current schema version.
pub fn encode_chunk(chunk: &SnapshotChunk) -> Result<Vec<u8>, CodecError> {
    rmp_serde::to_vec_named(chunk).map_err(|e| CodecError::Encode(e.to_string()))
}

/// Decodes a snapshot chunk written with schema `version`.
pub fn decode_chunk(version: u32, bytes: &[u8]) -> Result<SnapshotChunk, CodecError> {
    decode_versioned(version, bytes)
}

/// The checksum of one record. It covers the record's position and version as well as its
/// bytes, so a row copied to the wrong place, or relabelled, fails the check too.
pub fn checksum(position: u64, version: u32, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&position.to_le_bytes());
    hasher.update(&version.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Checks a record's checksum. SQLite stores integers signed; the checksum is kept as the
/// `u32` value in an `i64` column, so any other value is damage too.
pub fn verify(position: u64, version: u32, payload: &[u8], stored: i64) -> Result<(), CodecError> {
    let computed = checksum(position, version, payload);
    match u32::try_from(stored) {
        Ok(stored) if stored == computed => Ok(()),
        _ => Err(CodecError::Checksum {
            stored: stored as u32,
            computed,
        }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::incident::Page;
    use crate::domain::schedule::{EscalationLevel, EscalationPolicy, RotationEntry};
    use crate::domain::{
        Actor, IncidentChange, IncidentChangeKind, IncidentId, NewIncident, NotificationId,
        ScheduleId, ServiceId, Severity, UserId,
    };
    use chrono::{TimeDelta, TimeZone, Utc};

    /// A realistic trigger / acknowledge / resolve triple, for size and round-trip checks.
    pub(crate) fn sample_events() -> Vec<Event> {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let alice = UserId::new();
        let bob = UserId::new();
        let schedule = Schedule {
            id: ScheduleId::new(),
            name: "Primary".into(),
            service_id: ServiceId::new(),
            time_zone: "UTC".into(),
            rotations: Vec::new(),
            overrides: Vec::new(),
            rotation: vec![RotationEntry {
                user_id: alice,
                start: now - TimeDelta::days(1),
                end: now + TimeDelta::days(6),
            }],
            escalation_policy: std::sync::Arc::new(EscalationPolicy {
                initial_timeout_ms: 300_000,
                levels: vec![EscalationLevel {
                    user_id: Some(bob),
                    schedule_id: None,
                    timeout_ms: 600_000,
                }],
                repeat: 0,
                acknowledge_timeout_ms: None,
            }),
            calendar_key: None,
            deleted_at: None,
        };
        let new = NewIncident::parse(
            "Checkout latency above 2 s",
            Some("p99 on /checkout over threshold for 5 minutes"),
            Severity::High,
            Some("checkout-latency"),
        )
        .unwrap();
        let incident = Incident::trigger(
            IncidentId::new(),
            1,
            new,
            &schedule,
            now,
            Page {
                id: NotificationId::new(),
                channel: "log".into(),
            },
            &|level: &EscalationLevel| level.user_id,
        );
        let id = incident.id;
        vec![
            Event::Incident(IncidentChange {
                incident_id: id,
                at: now,
                kind: IncidentChangeKind::Triggered(Box::new(incident)),
                actor: Actor::system(),
            }),
            Event::Incident(IncidentChange {
                incident_id: id,
                at: now + TimeDelta::seconds(30),
                kind: IncidentChangeKind::Acknowledged,
                actor: Actor::user(alice, "Alice"),
            }),
            Event::Incident(IncidentChange {
                incident_id: id,
                at: now + TimeDelta::seconds(90),
                kind: IncidentChangeKind::Resolved,
                actor: Actor::system(),
            }),
            Event::ScheduleCreated {
                schedule,
                actor: Actor::system(),
            },
        ]
    }

    #[test]
    fn events_round_trip_through_the_current_version() {
        for event in sample_events() {
            let bytes = encode_event(&event).unwrap();
            assert_eq!(decode_event(SCHEMA_VERSION, &bytes).unwrap(), event);
        }
    }

    #[test]
    fn a_flipped_byte_fails_the_checksum() {
        let bytes = encode_event(&sample_events()[0]).unwrap();
        let sum = checksum(7, SCHEMA_VERSION, &bytes);
        assert!(verify(7, SCHEMA_VERSION, &bytes, i64::from(sum)).is_ok());
        let mut damaged = bytes.clone();
        damaged[10] ^= 0x40;
        assert!(verify(7, SCHEMA_VERSION, &damaged, i64::from(sum)).is_err());
        // The same bytes at another position are damage too.
        assert!(verify(8, SCHEMA_VERSION, &bytes, i64::from(sum)).is_err());
    }

    #[test]
    fn an_unknown_version_is_refused_not_guessed() {
        let bytes = encode_event(&sample_events()[1]).unwrap();
        assert!(matches!(
            decode_event(SCHEMA_VERSION + 1, &bytes),
            Err(CodecError::UnknownVersion(_))
        ));
    }

    #[test]
    fn trigger_ack_resolve_stay_small() {
        let sizes: Vec<usize> = sample_events()[..3]
            .iter()
            .map(|e| encode_event(e).unwrap().len())
            .collect();
        let average = sizes.iter().sum::<usize>() / sizes.len();
        // The disk target is 600 B per event including SQLite's own overhead.
        assert!(average < 450, "payload sizes {sizes:?}");
    }

    #[test]
    fn snapshot_chunks_round_trip() {
        let Event::Incident(change) = &sample_events()[0] else {
            unreachable!()
        };
        let IncidentChangeKind::Triggered(incident) = &change.kind else {
            unreachable!()
        };
        let chunk = SnapshotChunk {
            incidents: vec![(**incident).clone()],
            ..SnapshotChunk::default()
        };
        let bytes = encode_chunk(&chunk).unwrap();
        assert_eq!(decode_chunk(SCHEMA_VERSION, &bytes).unwrap(), chunk);
    }
}
