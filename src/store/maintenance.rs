//! Maintenance windows: while a service is in maintenance its incidents open and are
//! recorded, but nobody is paged and nothing escalates; when it ends, held incidents page
//! and escalate from that instant.
//!
//! How it fits the incident path: a trigger on a service in maintenance records the
//! incident held (`Incident::hold_paging`); an escalation or wake timer that fires during
//! maintenance records `PagingHeld` instead of escalating; the end (by hand, or the engine's
//! `TimerKey::Maintenance` at `until`) is journaled first and then every open incident of
//! the service gets a serialized `PagingReleased` decision under its own lock. Whether a
//! service is in maintenance is read inside each incident's lock (`until > now`), so a
//! person and the end can never interleave on one incident.

use std::sync::Arc;

use super::{CommandError, Store};
use crate::domain::user::parse_maintenance_until;
use crate::domain::{
    Action, Actor, DomainError, EscalationLevel, Event, IncidentId, Principal, Service, ServiceId,
    Timestamp,
};
use crate::engine::{TimerCommand, TimerKey};

impl Store {
    /// When `service`'s maintenance ends, if it is in maintenance at `now`.
    pub(super) fn in_maintenance(&self, service: ServiceId, now: Timestamp) -> Option<Timestamp> {
        self.state()
            .service_any(service)
            .and_then(|s| s.in_maintenance(now))
    }

    /// Refuses a change that would page someone while the service is in maintenance.
    pub(super) fn check_not_in_maintenance(
        &self,
        service: ServiceId,
        now: Timestamp,
    ) -> Result<(), DomainError> {
        match self.in_maintenance(service, now) {
            Some(until) => Err(DomainError::InvalidState(format!(
                "service {service} is in maintenance until {}: nobody is paged until then; end the maintenance first (endMaintenance)",
                until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            ))),
            None => Ok(()),
        }
    }

    /// Puts a service in maintenance until `until` (in the future, at most 90 days ahead),
    /// or moves the end of its current window. ADMIN: a maintenance window is configuration.
    pub async fn start_maintenance(
        &self,
        by: &Principal,
        service_id: &str,
        until: Timestamp,
    ) -> Result<Arc<Service>, CommandError> {
        by.require(Action::Configure)?;
        let id: ServiceId = service_id
            .parse()
            .map_err(|e: DomainError| e.at("serviceId"))?;
        let _config = self.config_lock().await?;
        if self.state().service(id).is_none() {
            return Err(DomainError::not_found("service", id).at("serviceId").into());
        }
        let now = self.shared.clock.now();
        let until = parse_maintenance_until("until", until, now)?;
        self.commit(Event::MaintenanceStarted {
            service_id: id,
            until,
            at: now,
            actor: by.actor.clone(),
        })
        .await?;
        let _ = self
            .shared
            .timers
            .send(TimerCommand::Arm(TimerKey::Maintenance(id), until));
        self.state()
            .service(id)
            .ok_or_else(|| DomainError::not_found("service", id).into())
    }

    /// Ends a service's maintenance now: held incidents page and escalate from now. A
    /// service not in maintenance is a no-op that succeeds.
    pub async fn end_maintenance(
        &self,
        by: &Principal,
        service_id: &str,
    ) -> Result<Arc<Service>, CommandError> {
        by.require(Action::Configure)?;
        let id: ServiceId = service_id
            .parse()
            .map_err(|e: DomainError| e.at("serviceId"))?;
        {
            let _config = self.config_lock().await?;
            let service = self
                .state()
                .service(id)
                .ok_or_else(|| DomainError::not_found("service", id).at("serviceId"))?;
            if service.maintenance_until.is_none() {
                return Ok(service);
            }
            self.record_maintenance_end(id, &by.actor).await?;
        }
        self.release_held(id).await?;
        self.state()
            .service(id)
            .ok_or_else(|| DomainError::not_found("service", id).into())
    }

    async fn record_maintenance_end(
        &self,
        service_id: ServiceId,
        actor: &Actor,
    ) -> Result<(), CommandError> {
        let at = self.shared.clock.now();
        self.commit(Event::MaintenanceEnded {
            service_id,
            at,
            actor: actor.clone(),
        })
        .await?;
        let _ = self
            .shared
            .timers
            .send(TimerCommand::Disarm(TimerKey::Maintenance(service_id)));
        Ok(())
    }

    /// The engine's maintenance timer for `deadline` fired: the window ends (unless it was
    /// moved or ended meanwhile), then held incidents are released. A stale timer only
    /// sweeps, which releases nothing that should stay held.
    pub async fn maintenance_timer(
        &self,
        service_id: ServiceId,
        deadline: Timestamp,
    ) -> Result<(), CommandError> {
        {
            let _config = self.config_lock().await?;
            let ends_now = self
                .state()
                .service_any(service_id)
                .is_some_and(|s| s.maintenance_until == Some(deadline));
            if ends_now {
                self.record_maintenance_end(service_id, &Actor::system())
                    .await?;
            }
        }
        self.release_held(service_id).await
    }

    /// Gives every open incident of `service` its serialized release decision. All open
    /// ones, not only those that look held now: a hold being decided under an incident's
    /// lock at this moment is seen once the lock is ours.
    async fn release_held(&self, service: ServiceId) -> Result<(), CommandError> {
        let open: Vec<IncidentId> = self
            .open_incidents()
            .iter()
            .filter(|i| i.service_id == service)
            .map(|i| i.id)
            .collect();
        for id in open {
            self.release_one(id).await?;
        }
        Ok(())
    }

    /// One incident's release decision: pages and re-arms it if it is held and its service
    /// is no longer in maintenance.
    pub(super) async fn release_one(
        &self,
        id: IncidentId,
    ) -> Result<Arc<crate::domain::Incident>, CommandError> {
        let page = self.page();
        self.transition(id, &Actor::system(), |incident, now| {
            if !incident.paging_held || self.in_maintenance(incident.service_id, now).is_some() {
                return Ok(None);
            }
            let who = |level: &EscalationLevel| self.level_target(level, now);
            let on_call = self.on_call_for(incident, now);
            Ok(incident.release(now, page.clone(), on_call, &who))
        })
        .await
    }

    /// After replay: re-arms every maintenance end (overdue ones fire at once), and sweeps
    /// services whose maintenance ended with incidents still held (a crash between the end
    /// and the releases).
    pub(super) fn resume_maintenance(&self, now: Timestamp) {
        for service in self.state().services.iter() {
            if let Some(until) = service.maintenance_until {
                let _ = self
                    .shared
                    .timers
                    .send(TimerCommand::Arm(TimerKey::Maintenance(service.id), until));
            }
        }
        let mut held: Vec<ServiceId> = self
            .open_incidents()
            .iter()
            .filter(|i| i.paging_held && self.in_maintenance(i.service_id, now).is_none())
            .map(|i| i.service_id)
            .collect();
        held.sort();
        held.dedup();
        for service in held {
            let untimed = self
                .state()
                .service_any(service)
                .is_none_or(|s| s.maintenance_until.is_none());
            if untimed {
                let _ = self
                    .shared
                    .timers
                    .send(TimerCommand::Arm(TimerKey::Maintenance(service), now));
            }
        }
    }
}
