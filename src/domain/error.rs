//! The one error type the domain returns. The edges map each variant to a contract code
//! (`BAD_USER_INPUT`, `NOT_FOUND`, `INVALID_STATE`) exactly once.

/// Why the domain refused a command. Every message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A value failed validation; `field` names the input field at fault.
    #[error("{field}: {message}")]
    Invalid {
        /// Input path, e.g. `email` or `rotation[2].endTime`.
        field: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// An id that does not name a live entity of this kind (unknown or malformed).
    #[error("no {kind} with id '{id}'")]
    NotFound {
        /// `user`, `service`, `schedule`, `incident`.
        kind: &'static str,
        /// The id as the client sent it.
        id: String,
        /// The input field that carried it, when it came in an input object.
        field: Option<String>,
    },
    /// The move is not allowed from the entity's current state.
    #[error("{0}")]
    InvalidState(String),
    /// The caller's role does not allow the command.
    #[error("{0}")]
    Forbidden(String),
}

impl DomainError {
    /// Shorthand for [`DomainError::Invalid`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`DomainError::NotFound`].
    pub fn not_found(kind: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            kind,
            id: id.to_string(),
            field: None,
        }
    }

    /// The same error, naming the input field that carried the id.
    pub fn at(self, field: impl Into<String>) -> Self {
        match self {
            Self::NotFound { kind, id, .. } => Self::NotFound {
                kind,
                id,
                field: Some(field.into()),
            },
            other => other,
        }
    }

    /// The same error reported against a nested input path (`rotation[0]` + `userId`).
    pub fn within(self, prefix: &str) -> Self {
        match self {
            Self::Invalid { field, message } => Self::Invalid {
                field: format!("{prefix}.{field}"),
                message,
            },
            Self::NotFound {
                kind,
                id,
                field: Some(field),
            } => Self::NotFound {
                kind,
                id,
                field: Some(format!("{prefix}.{field}")),
            },
            other => other,
        }
    }
}
