//! How long a token lives, in the forms endpoints write it
//! (`x-tokenmux-token: expires_in | expires_in_ms | expires_at |
//! expires_at_ms`).

use std::time::{Duration, SystemTime};

use serde_json::Value;

/// Where a success body says when its token expires, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expiry {
    /// A JSON pointer into the success body.
    pub pointer: &'static str,
    /// How the value is written.
    pub form: ExpiryForm,
}

/// How an expiry is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryForm {
    /// `expires_in`: a lifetime in seconds (RFC 6749 §5.1), a number or a
    /// numeric string.
    InSeconds,
    /// `expires_in_ms`: a lifetime in milliseconds.
    InMilliseconds,
    /// `expires_at`: an absolute time, an RFC 3339 / ISO 8601 string
    /// (`2026-12-04T10:00:00Z`, `…+01:00`; without an offset, UTC) or a
    /// number of seconds since the Unix epoch.
    At,
    /// `expires_at_ms`: an absolute time in milliseconds since the epoch.
    AtMilliseconds,
}

/// A token's expiry as the endpoint sent it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Expires {
    /// A lifetime from when the answer arrived, in seconds (fractions kept).
    In(f64),
    /// An absolute time.
    At(SystemTime),
}

impl ExpiryForm {
    /// Every form, by its role name.
    pub const ALL: [ExpiryForm; 4] = [
        ExpiryForm::InSeconds,
        ExpiryForm::InMilliseconds,
        ExpiryForm::At,
        ExpiryForm::AtMilliseconds,
    ];

    /// The `x-tokenmux-token` role that names it, e.g. `expires_at`.
    pub fn role(self) -> &'static str {
        match self {
            ExpiryForm::InSeconds => "expires_in",
            ExpiryForm::InMilliseconds => "expires_in_ms",
            ExpiryForm::At => "expires_at",
            ExpiryForm::AtMilliseconds => "expires_at_ms",
        }
    }

    /// The form a role names, if it names one.
    pub fn from_role(role: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|form| form.role() == role)
    }

    /// Reads `value`, written in this form. `Ok(None)` for `null`; an
    /// error says what was expected (never the value: it sits beside the
    /// token).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use tokenmux_wire::{Expires, ExpiryForm};
    ///
    /// let ms = ExpiryForm::InMilliseconds.read(&serde_json::json!(90_000)).unwrap();
    /// assert_eq!(ms, Some(Expires::In(90.0)));
    /// let at = ExpiryForm::At.read(&serde_json::json!("2026-12-04T10:00:00.5+01:00")).unwrap();
    /// assert_eq!(at, Some(Expires::At(UNIX_EPOCH + Duration::from_millis(1_796_374_800_500))));
    /// assert!(ExpiryForm::At.read(&serde_json::json!("tomorrow")).is_err());
    /// ```
    pub fn read(self, value: &Value) -> Result<Option<Expires>, String> {
        let number = match value {
            Value::Null => return Ok(None),
            Value::Number(n) => n.as_f64(),
            Value::String(text) => text.trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|n| n.is_finite());
        let role = self.role();
        match (self, number, value) {
            (ExpiryForm::InSeconds, Some(seconds), _) => Ok(Some(Expires::In(seconds))),
            (ExpiryForm::InMilliseconds, Some(ms), _) => Ok(Some(Expires::In(ms / 1000.0))),
            (ExpiryForm::At, Some(seconds), _) => epoch(seconds).map(Some),
            (ExpiryForm::AtMilliseconds, Some(ms), _) => epoch(ms / 1000.0).map(Some),
            (ExpiryForm::At, None, Value::String(text)) => rfc3339(text.trim())
                .map(|at| Some(Expires::At(at)))
                .ok_or_else(|| format!("{role} is not an RFC 3339 time or epoch seconds")),
            (ExpiryForm::At, None, _) => Err(format!(
                "{role} is not an RFC 3339 time or a number of epoch seconds"
            )),
            _ => Err(format!("{role} is not a number")),
        }
    }
}

fn epoch(seconds: f64) -> Result<Expires, String> {
    if seconds < 0.0 {
        return Err("the expiry is before 1970".into());
    }
    // Far beyond any token: capped later by the facade, never an overflow.
    let seconds = seconds.min(1e11);
    Ok(Expires::At(
        SystemTime::UNIX_EPOCH + Duration::from_secs_f64(seconds),
    ))
}

/// An RFC 3339 time; ISO 8601 without an offset is taken as UTC, as the
/// vendors that send it mean.
fn rfc3339(text: &str) -> Option<SystemTime> {
    let utc = chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
        })
        .ok()?;
    let nanos = utc.timestamp_nanos_opt()?;
    let since = Duration::from_nanos(u64::try_from(nanos).ok()?);
    Some(SystemTime::UNIX_EPOCH + since)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(seconds: u64) -> Result<Option<Expires>, String> {
        Ok(Some(Expires::At(
            SystemTime::UNIX_EPOCH + Duration::from_secs(seconds),
        )))
    }

    #[test]
    fn every_form_reads_numbers_and_numeric_strings() {
        use ExpiryForm::*;
        assert_eq!(InSeconds.read(&json!(3600)), Ok(Some(Expires::In(3600.0))));
        assert_eq!(
            InSeconds.read(&json!("3600")),
            Ok(Some(Expires::In(3600.0)))
        );
        assert_eq!(
            InMilliseconds.read(&json!(3_600_000)),
            Ok(Some(Expires::In(3600.0)))
        );
        assert_eq!(At.read(&json!(1_796_371_200)), at(1_796_371_200));
        assert_eq!(
            AtMilliseconds.read(&json!(1_796_371_200_000u64)),
            at(1_796_371_200)
        );
        assert_eq!(
            AtMilliseconds.read(&json!("1796371200000")),
            at(1_796_371_200)
        );
        for form in ExpiryForm::ALL {
            assert_eq!(form.read(&Value::Null), Ok(None));
            assert_eq!(ExpiryForm::from_role(form.role()), Some(form));
        }
    }

    #[test]
    fn absolute_times_in_rfc3339_and_iso8601() {
        let form = ExpiryForm::At;
        assert_eq!(form.read(&json!("2026-12-04T09:20:00Z")), at(1_796_376_000));
        assert_eq!(
            form.read(&json!("2026-12-04T10:20:00+01:00")),
            at(1_796_376_000)
        );
        // Keystone writes microseconds; some vendors leave out the offset.
        assert_eq!(
            form.read(&json!("2026-12-04T09:20:00.000000Z")),
            at(1_796_376_000)
        );
        assert_eq!(form.read(&json!("2026-12-04T09:20:00")), at(1_796_376_000));
    }

    #[test]
    fn what_is_not_an_expiry_is_an_error_without_the_value() {
        for (form, value) in [
            (ExpiryForm::At, json!("next tuesday")),
            (ExpiryForm::At, json!(true)),
            (ExpiryForm::At, json!(-5)),
            (ExpiryForm::InSeconds, json!("soon")),
            (ExpiryForm::InMilliseconds, json!({"ms": 1})),
            (ExpiryForm::AtMilliseconds, json!("2026-12-04T09:20:00Z")),
            (ExpiryForm::At, json!("1969-01-01T00:00:00Z")),
        ] {
            let error = form.read(&value).unwrap_err();
            assert!(
                error.contains(form.role()) || error.contains("1970"),
                "{error}"
            );
            assert!(!error.contains("tuesday") && !error.contains("soon"));
        }
    }
}
