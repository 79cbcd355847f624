//! Users (the people paged) and services (the things that break).

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
}

impl Service {
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
        })
    }
}
