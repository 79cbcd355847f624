//! Monitoring integrations as state (create, rotate the key, set the HMAC secret, delete)
//! and ingestion: a monitor's [`Signal`] becomes a change on the one trigger path
//! ([`Store::open_or_fold`]) or an acknowledge/resolve transition, made by the
//! integration as its actor. Keys are looked up by digest and compared in constant time;
//! nothing here logs a key or a secret.

use std::sync::Arc;

use super::{CommandError, Store};
use crate::domain::integration::{
    AlertUpdate, KEY_CHARS, MAX_ALERTS_PER_INCIDENT, Signal, parse_name, parse_secret,
};
use crate::domain::{
    Action, Actor, ActorKind, Alert, Credential, DomainError, Event, Incident, IncidentId,
    Integration, IntegrationId, IntegrationKind, Principal, Role, ScheduleId,
    integration::IntegrationSecret,
};

/// What became of a monitor's event (also the `result` label of the ingestion metric).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngestOutcome {
    /// It opened an incident.
    Triggered,
    /// It folded into an open incident.
    Deduplicated,
    /// It acknowledged an open incident.
    Acknowledged,
    /// It resolved an open incident.
    Resolved,
    /// It named no open incident (or changed nothing): accepted, nothing changed.
    Ignored,
}

impl IngestOutcome {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Triggered => "triggered",
            Self::Deduplicated => "deduplicated",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
            Self::Ignored => "ignored",
        }
    }
}

/// The answer to an ingested event.
#[derive(Clone, Debug)]
pub struct IngestResult {
    /// What happened.
    pub outcome: IngestOutcome,
    /// The incident it concerned, if any.
    pub incident: Option<Arc<Incident>>,
}

fn new_key() -> IntegrationSecret {
    // 32 of the 64 hex digits: 128 bits from the OS's random source.
    let mut key = crate::secret::random_secret("");
    key.truncate(KEY_CHARS);
    IntegrationSecret(key)
}

impl Store {
    /// Makes an integration on a live schedule; its key is minted here.
    pub async fn create_integration(
        &self,
        by: &Principal,
        schedule_id: &str,
        name: &str,
        kind: IntegrationKind,
        secret: Option<&str>,
    ) -> Result<Arc<Integration>, CommandError> {
        by.require(Action::Configure)?;
        let name = parse_name(name)?;
        let secret = parse_secret(secret).map_err(CommandError::from)?;
        let schedule_id: ScheduleId = schedule_id
            .parse()
            .map_err(|e: DomainError| e.at("scheduleId"))?;
        let _config = self.config_lock().await?;
        if self.state().schedule(schedule_id).is_none() {
            return Err(DomainError::not_found("schedule", schedule_id)
                .at("scheduleId")
                .into());
        }
        let integration = Integration {
            id: IntegrationId::new(),
            name,
            kind,
            schedule_id,
            key: new_key(),
            secret,
            created_at: self.clock().now(),
            deleted_at: None,
        };
        self.commit(Event::IntegrationCreated {
            integration: integration.clone(),
            actor: by.actor.clone(),
        })
        .await?;
        Ok(Arc::new(integration))
    }

    /// Gives an integration a new key: the old one stops working at once.
    pub async fn rotate_integration_key(
        &self,
        by: &Principal,
        id: &str,
    ) -> Result<Arc<Integration>, CommandError> {
        by.require(Action::Configure)?;
        self.update_integration(by, id, |integration| integration.key = new_key())
            .await
    }

    /// Sets (or, with `None`, clears) the HMAC secret signed webhooks are checked with.
    pub async fn set_integration_secret(
        &self,
        by: &Principal,
        id: &str,
        secret: Option<&str>,
    ) -> Result<Arc<Integration>, CommandError> {
        by.require(Action::Configure)?;
        let secret = parse_secret(secret)?;
        self.update_integration(by, id, |integration| integration.secret = secret)
            .await
    }

    async fn update_integration(
        &self,
        by: &Principal,
        id: &str,
        change: impl FnOnce(&mut Integration),
    ) -> Result<Arc<Integration>, CommandError> {
        let id: IntegrationId = id.parse()?;
        let _config = self.config_lock().await?;
        let current = self
            .integration(id)
            .ok_or_else(|| DomainError::not_found("integration", id))?;
        let mut integration = (*current).clone();
        change(&mut integration);
        self.commit(Event::IntegrationUpdated {
            integration: integration.clone(),
            actor: by.actor.clone(),
        })
        .await?;
        Ok(Arc::new(integration))
    }

    /// Deletes an integration: its key stops working at once; its alerts stay on their
    /// incidents.
    pub async fn delete_integration(
        &self,
        by: &Principal,
        id: &str,
    ) -> Result<IntegrationId, CommandError> {
        by.require(Action::Configure)?;
        let id: IntegrationId = id.parse()?;
        let _config = self.config_lock().await?;
        if self.integration(id).is_none() {
            return Err(DomainError::not_found("integration", id).into());
        }
        self.commit(Event::IntegrationDeleted {
            id,
            at: self.clock().now(),
            actor: by.actor.clone(),
        })
        .await?;
        Ok(id)
    }

    /// A live integration.
    pub fn integration(&self, id: IntegrationId) -> Option<Arc<Integration>> {
        self.state()
            .integrations
            .get(&id)
            .map(|i| i.clone())
            .filter(|i| i.deleted_at.is_none())
    }

    /// The live integrations of a schedule, oldest first.
    pub fn integrations_of(&self, schedule: ScheduleId) -> Vec<Arc<Integration>> {
        let mut list: Vec<_> = self
            .state()
            .integrations
            .iter()
            .filter(|i| i.schedule_id == schedule && i.deleted_at.is_none())
            .map(|i| i.clone())
            .collect();
        list.sort_by_key(|i| i.id);
        list
    }

    /// The live integration whose key is `key`: one digest, one hash lookup, then a
    /// constant-time comparison of the digests.
    pub fn integration_by_key(&self, key: &str) -> Option<Arc<Integration>> {
        let key = key.trim();
        if key.is_empty() || key.len() > 256 {
            return None;
        }
        let presented = crate::secret::digest(key);
        let id = self
            .state()
            .integration_keys
            .get(&presented.0)
            .map(|id| *id)?;
        let integration = self.integration(id)?;
        let stored = crate::secret::digest(&integration.key.0);
        crate::secret::same_secret(&stored.0, &presented.0).then_some(integration)
    }

    /// Acts on a monitor's signal as the integration: trigger (open or fold), acknowledge
    /// or resolve. A signal that names no open incident changes nothing.
    pub async fn ingest(
        &self,
        integration: &Integration,
        signal: Signal,
    ) -> Result<IngestResult, CommandError> {
        let by = Principal {
            actor: Actor::new(
                ActorKind::Integration,
                Some(integration.id.0),
                &integration.name,
            ),
            role: Role::Responder,
            // Integrations present a key, not a credential that can be revoked mid-request.
            credential: Credential::System,
            expires_at: None,
        };
        self.state()
            .note_integration_event(integration.id, self.clock().now());
        match signal {
            Signal::Trigger {
                new,
                alerts,
                replace,
            } => {
                let alerts: Vec<Arc<Alert>> = alerts.into_iter().map(Arc::new).collect();
                let mut initial = alerts.clone();
                if initial.len() > MAX_ALERTS_PER_INCIDENT {
                    let extra = initial.len() - MAX_ALERTS_PER_INCIDENT;
                    if replace {
                        initial.truncate(MAX_ALERTS_PER_INCIDENT);
                    } else {
                        initial.drain(..extra);
                    }
                }
                let update = AlertUpdate {
                    alerts,
                    replace,
                    fold: true,
                    resolve: false,
                };
                let (incident, opened) = self
                    .open_or_fold(&by, integration.schedule_id, new, initial, |incident| {
                        incident.receive_alerts(update.clone())
                    })
                    .await?;
                Ok(IngestResult {
                    outcome: if opened {
                        IngestOutcome::Triggered
                    } else {
                        IngestOutcome::Deduplicated
                    },
                    incident: Some(incident),
                })
            }
            Signal::Acknowledge { dedup_key } => {
                let Some(id) = self.open_by_dedup(integration, &dedup_key)? else {
                    return Ok(ignored());
                };
                let changed = std::sync::atomic::AtomicBool::new(false);
                let incident = self
                    .transition(id, &by.actor, |incident, _| {
                        // Already acknowledged, or resolved meanwhile: nothing to do.
                        let change = incident.acknowledge().ok().flatten();
                        changed.store(change.is_some(), std::sync::atomic::Ordering::Relaxed);
                        Ok(change)
                    })
                    .await?;
                Ok(outcome(
                    changed.into_inner(),
                    IngestOutcome::Acknowledged,
                    incident,
                ))
            }
            Signal::Resolve { dedup_key, alerts } => {
                let Some(id) = self.open_by_dedup(integration, &dedup_key)? else {
                    return Ok(ignored());
                };
                let changed = std::sync::atomic::AtomicBool::new(false);
                let update = AlertUpdate {
                    alerts: alerts.into_iter().map(Arc::new).collect(),
                    replace: true,
                    fold: false,
                    resolve: true,
                };
                let incident = self
                    .transition(id, &by.actor, |incident, _| {
                        let change = if update.alerts.is_empty() {
                            incident.resolve()
                        } else {
                            incident.receive_alerts(update.clone())
                        };
                        changed.store(change.is_some(), std::sync::atomic::Ordering::Relaxed);
                        Ok(change)
                    })
                    .await?;
                Ok(outcome(
                    changed.into_inner(),
                    IngestOutcome::Resolved,
                    incident,
                ))
            }
        }
    }

    /// The open incident of the integration's service with this dedup key.
    fn open_by_dedup(
        &self,
        integration: &Integration,
        dedup_key: &str,
    ) -> Result<Option<IncidentId>, CommandError> {
        let schedule = self
            .state()
            .schedule(integration.schedule_id)
            .ok_or_else(|| DomainError::not_found("schedule", integration.schedule_id))?;
        Ok(self
            .state()
            .dedup
            .get(&(schedule.service_id, dedup_key.to_owned()))
            .map(|id| *id))
    }
}

fn ignored() -> IngestResult {
    IngestResult {
        outcome: IngestOutcome::Ignored,
        incident: None,
    }
}

fn outcome(changed: bool, done: IngestOutcome, incident: Arc<Incident>) -> IngestResult {
    IngestResult {
        outcome: if changed {
            done
        } else {
            IngestOutcome::Ignored
        },
        incident: Some(incident),
    }
}
