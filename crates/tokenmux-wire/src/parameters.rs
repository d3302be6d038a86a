//! Values a user chooses per source for a spec's named parameters
//! (`x-tokenmux-parameter`): a `scope`, an `audience`, a tenant.

use std::collections::BTreeMap;
use std::fmt;

use crate::Secret;

/// The parameter values of one source, by name.
///
/// Every value is held as a [`Secret`], so that a parameter the spec marks
/// secret is never shown: `Debug` lists the names only.
///
/// ```
/// use tokenmux_wire::Parameters;
///
/// let params = Parameters::new().with("scope", "read write").with("api_key", "k3y");
/// assert_eq!(params.get("scope").map(|v| v.expose_secret()), Some("read write"));
/// assert_eq!(format!("{params:?}"), r#"Parameters(["api_key", "scope"])"#);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Parameters(BTreeMap<String, Secret>);

impl Parameters {
    /// No values.
    pub fn new() -> Self {
        Self::default()
    }

    /// These values and `name` = `value` (replacing an earlier one).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Secret>) -> Self {
        self.insert(name, value);
        self
    }

    /// Sets `name` to `value`, replacing an earlier one.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Secret>) {
        self.0.insert(name.into(), value.into());
    }

    /// The value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.0.get(name)
    }

    /// Whether no value is given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every (name, value), by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Secret)> {
        self.0.iter().map(|(name, value)| (name.as_str(), value))
    }

    /// These values, with `other`'s replacing any of the same name.
    pub fn merged(mut self, other: &Parameters) -> Self {
        for (name, value) in other.iter() {
            self.insert(name, value.clone());
        }
        self
    }
}

impl fmt::Debug for Parameters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Parameters")
            .field(&self.0.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_values_win_and_debug_shows_no_value() {
        let base = Parameters::new().with("scope", "a").with("audience", "x");
        let merged = base.merged(&Parameters::new().with("scope", "b"));
        assert_eq!(merged.get("scope").unwrap().expose_secret(), "b");
        assert_eq!(merged.get("audience").unwrap().expose_secret(), "x");
        assert_eq!(
            format!("{merged:?}"),
            r#"Parameters(["audience", "scope"])"#
        );
        assert_eq!(merged.iter().count(), 2);
    }
}
