//! Users (the people paged) and services (the things that break).

use chrono::DurationRound;
use serde::{Deserialize, Serialize};

use super::{DomainError, PasswordHash, Role, ServiceId, Timestamp, UserId, text};

/// A person who can be on call and paged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Stable id.
    pub id: UserId,
    /// Display name, 1..=200 characters.
    pub name: String,
    /// Where email pages go; validated shape.
    pub email: String,
    /// Where SMS / voice pages go, if anywhere.
    pub phone: Option<String>,
    /// What they may do. Users journaled before roles existed are responders.
    #[serde(default)]
    pub role: Role,
    /// Their password's argon2id hash, if they may log in. Never returned by the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<PasswordHash>,
    /// Set when deleted: the user stays resolvable from incident history but is gone from
    /// every list and lookup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<Timestamp>,
}

/// The validated fields of a user, as created or replaced by an update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserFields {
    /// See [`User::name`].
    pub name: String,
    /// See [`User::email`].
    pub email: String,
    /// See [`User::phone`].
    pub phone: Option<String>,
    /// See [`User::role`].
    pub role: Role,
}

impl UserFields {
    /// Validates raw input.
    pub fn parse(
        name: &str,
        email: &str,
        phone: Option<&str>,
        role: Role,
    ) -> Result<Self, DomainError> {
        Ok(Self {
            name: text::name("name", name)?,
            email: text::email("email", email)?,
            phone: text::phone("phone", phone)?,
            role,
        })
    }

    /// A user with these fields and `password`.
    pub fn into_user(self, id: UserId, password: Option<PasswordHash>) -> User {
        User {
            id,
            name: self.name,
            email: self.email,
            phone: self.phone,
            role: self.role,
            password,
            deleted_at: None,
        }
    }
}

/// Something that can break and has people on call for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Stable id.
    pub id: ServiceId,
    /// Display name, 1..=200 characters.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Set when deleted (see [`User::deleted_at`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<Timestamp>,
    /// While in maintenance: when it ends by itself. Past instants mean no maintenance
    /// (the end timer records the end shortly after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_until: Option<Timestamp>,
}

/// The longest maintenance window: 90 days. Longer is a service that should be deleted or
/// a typo in a date; it can be extended by starting maintenance again.
pub const MAX_MAINTENANCE_DAYS: i64 = 90;

/// Validates a maintenance end: after `now`, at most [`MAX_MAINTENANCE_DAYS`] ahead.
pub fn parse_maintenance_until(
    field: &str,
    until: Timestamp,
    now: Timestamp,
) -> Result<Timestamp, DomainError> {
    if until <= now {
        return Err(DomainError::invalid(
            field,
            format!(
                "must be in the future (it is now {})",
                now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            ),
        ));
    }
    if until - now > chrono::Duration::days(MAX_MAINTENANCE_DAYS) {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {MAX_MAINTENANCE_DAYS} days ahead"),
        ));
    }
    // Kept to the millisecond, the precision the API prints and timers fire at.
    Ok(until
        .duration_trunc(chrono::TimeDelta::milliseconds(1))
        .unwrap_or(until))
}

impl Service {
    /// When its maintenance ends, if it is in maintenance at `now`.
    pub fn in_maintenance(&self, now: Timestamp) -> Option<Timestamp> {
        self.maintenance_until.filter(|until| *until > now)
    }

    /// Validates raw input into a new service.
    pub fn parse(
        id: ServiceId,
        name: &str,
        description: Option<&str>,
    ) -> Result<Self, DomainError> {
        Ok(Self {
            id,
            name: text::name("name", name)?,
            description: text::description("description", description)?,
            deleted_at: None,
            maintenance_until: None,
        })
    }

    /// This service with a new name and description (validated), everything else kept.
    pub fn renamed(&self, name: &str, description: Option<&str>) -> Result<Self, DomainError> {
        Ok(Self {
            name: text::name("name", name)?,
            description: text::description("description", description)?,
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    fn t0() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn maintenance_ends_in_the_future_and_at_most_ninety_days_ahead() {
        let now = t0();
        assert!(parse_maintenance_until("until", now, now).is_err());
        assert!(parse_maintenance_until("until", now - Duration::seconds(1), now).is_err());
        assert!(parse_maintenance_until("until", now + Duration::milliseconds(1), now).is_ok());
        assert!(parse_maintenance_until("until", now + Duration::days(90), now).is_ok());
        assert!(
            parse_maintenance_until(
                "until",
                now + Duration::days(90) + Duration::seconds(1),
                now
            )
            .is_err()
        );
    }

    #[test]
    fn a_service_is_in_maintenance_until_its_end_exclusive() {
        let mut service = Service::parse(ServiceId::new(), "api", None).unwrap();
        assert_eq!(service.in_maintenance(t0()), None);
        let until = t0() + Duration::minutes(5);
        service.maintenance_until = Some(until);
        assert_eq!(service.in_maintenance(t0()), Some(until));
        assert_eq!(service.in_maintenance(until), None);
    }
}
