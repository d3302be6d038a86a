//! "Did you mean": the known word closest to a mistyped one, by
//! Jaro-Winkler similarity (`strsim`), when it is close enough to be a
//! typo rather than another word.

/// How similar a known word must be to be suggested (1.0: the same).
const THRESHOLD: f64 = 0.8;

/// The word of `known` closest to `word`, if it is close enough.
///
/// ```ignore
/// assert_eq!(closest("neonpanl", &["airalo", "neonpanel"]), Some("neonpanel"));
/// assert_eq!(closest("zzz", &["airalo", "neonpanel"]), None);
/// ```
pub(crate) fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|candidate| (strsim::jaro_winkler(word, candidate), *candidate))
        .filter(|(score, _)| *score >= THRESHOLD)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_is_matched_and_another_word_is_not() {
        let known = ["airalo", "neonpanel", "password", "jsonapi"];
        assert_eq!(closest("neonpanl", &known), Some("neonpanel"));
        assert_eq!(closest("pasword", &known), Some("password"));
        assert_eq!(closest("keycloak", &known), None);
        assert_eq!(
            closest("client_secrt_env", &["client_secret_env", "client_id_env"]),
            Some("client_secret_env")
        );
    }
}
