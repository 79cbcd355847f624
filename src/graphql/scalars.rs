//! The `DateTime` scalar: RFC 3339, printed in UTC with milliseconds, any offset accepted.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{DurationRound, SecondsFormat, TimeDelta, Utc};

use crate::domain::Timestamp;

/// An instant, as the API reads and writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime(pub Timestamp);

/// Prints an instant the way the API does (also used by the REST adapter).
pub fn format(at: Timestamp) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 instant with any offset, truncated to the millisecond.
pub fn parse(text: &str) -> Option<Timestamp> {
    let at = chrono::DateTime::parse_from_rfc3339(text.trim())
        .ok()?
        .with_timezone(&Utc);
    Some(at.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(at))
}

/// RFC 3339 date-time, e.g. `2026-11-27T09:00:00.000Z`. Output is always UTC with
/// milliseconds; input may carry any offset and is converted.
#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => parse(text).map(DateTime).ok_or_else(|| {
                InputValueError::custom(format!(
                    "'{}' is not an RFC 3339 date-time (expected e.g. 2026-01-31T09:00:00Z)",
                    text.chars().take(64).collect::<String>()
                ))
            }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(format(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_offset_in_utc_out() {
        let at = parse("2026-03-01T10:00:00+02:00").unwrap();
        assert_eq!(format(at), "2026-03-01T08:00:00.000Z");
    }

    #[test]
    fn rejects_non_rfc3339() {
        assert!(parse("yesterday").is_none());
        assert!(parse("2026-03-01").is_none());
    }
}
