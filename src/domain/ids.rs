//! Typed ids, so a user id can never be passed where a schedule id is expected.
//! They are UUIDs (v7: time-ordered, which keeps journal keys and logs in creation order).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// What this id names, for error messages ("no user with id ...").
            pub const KIND: &'static str = $kind;

            /// A fresh id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = super::DomainError;

            /// A malformed id names nothing, so it is reported as not found.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim())
                    .map(Self)
                    .map_err(|_| super::DomainError::not_found($kind, truncate(s)))
            }
        }
    };
}

/// Ids echoed back in errors are cut short so a huge bogus id cannot bloat a response.
fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

id_type!(
    /// Identifies a [`super::User`].
    UserId,
    "user"
);
id_type!(
    /// Identifies a [`super::Service`].
    ServiceId,
    "service"
);
id_type!(
    /// Identifies a [`super::Schedule`].
    ScheduleId,
    "schedule"
);
id_type!(
    /// Identifies an [`super::Incident`].
    IncidentId,
    "incident"
);
id_type!(
    /// Identifies a recurring rotation layer of a schedule.
    RotationId,
    "rotation"
);
id_type!(
    /// Identifies a schedule override.
    OverrideId,
    "override"
);
id_type!(
    /// Identifies an API token (not its secret).
    ApiTokenId,
    "API token"
);
id_type!(
    /// Identifies a login session (not its secret).
    SessionId,
    "session"
);
id_type!(
    /// Identifies one page sent for an incident.
    NotificationId,
    "notification"
);

id_type!(
    /// Identifies a monitoring integration (not its key).
    IntegrationId,
    "integration"
);

id_type!(
    /// Identifies a heartbeat monitor.
    HeartbeatId,
    "heartbeat"
);
id_type!(
    /// Identifies a user's contact method (an email address, a Slack or webhook URL).
    ContactMethodId,
    "contact method"
);

id_type!(
    /// Identifies a user's notification rule.
    NotificationRuleId,
    "notification rule"
);

id_type!(
    /// Identifies an outbound webhook.
    WebhookId,
    "webhook"
);

id_type!(
    /// Identifies one delivery of an incident event to an outbound webhook.
    WebhookDeliveryId,
    "webhook delivery"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DomainError;

    #[test]
    fn malformed_id_is_not_found() {
        let err = "nope".parse::<UserId>().unwrap_err();
        assert_eq!(err, DomainError::not_found("user", "nope"));
    }

    #[test]
    fn id_round_trips_through_text() {
        let id = IncidentId::new();
        assert_eq!(id.to_string().parse::<IncidentId>().unwrap(), id);
    }
}
