//! JSON that means one thing: a document where an object names a key
//! twice is ambiguous (parsers keep the first, or the last), and a token
//! response must not be read two ways.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

const DUPLICATE: &str = "duplicate key";

/// Whether `body` is JSON with an object that names a key twice, at any
/// depth. Bodies that are not JSON are not ambiguous (they are invalid,
/// which the decoder reports).
///
/// ```
/// use tokenmux_wire::has_duplicate_keys;
///
/// assert!(has_duplicate_keys(br#"{"access_token":"a","access_token":"b"}"#));
/// assert!(has_duplicate_keys(br#"{"data":[{"k":1,"k":2}]}"#));
/// assert!(!has_duplicate_keys(br#"{"a":{"k":1},"b":{"k":2}}"#));
/// assert!(!has_duplicate_keys(b"not json"));
/// ```
pub fn has_duplicate_keys(body: &[u8]) -> bool {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    match deserializer.deserialize_any(Unambiguous) {
        Err(error) => error.to_string().starts_with(DUPLICATE),
        Ok(()) => false,
    }
}

/// Walks a JSON value, failing on the first key named twice in one object.
struct Unambiguous;

impl<'de> de::Deserialize<'de> for Unambiguous {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(Unambiguous)
            .map(|()| Unambiguous)
    }
}

impl<'de> Visitor<'de> for Unambiguous {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key) {
                return Err(de::Error::custom(DUPLICATE));
            }
            map.next_value::<Unambiguous>()?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<Unambiguous>()?.is_some() {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}
