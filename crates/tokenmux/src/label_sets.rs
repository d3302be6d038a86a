//! The label sets of a source's metric series, each made once and shared
//! by every series that carries it.
//!
//! The `metrics` facade copies a series' labels into its own key when a
//! recorder keeps it: 112 bytes a series for `source` and `provider`, ten
//! series a source. A key made with `'static` labels keeps a reference
//! instead, so each distinct set is made once here and kept for the
//! process's life, as recorders keep their series (Prometheus's exporter,
//! without an idle timeout, keeps every series it was given). What is kept
//! is bounded by the series ever made: one set per source name, provider,
//! grant and outcome seen.

use std::collections::HashSet;

use metrics::{Counter, Gauge, Histogram, Key, Label, Level, Metadata, SharedString};
use parking_lot::Mutex;

/// What the `metrics` macros would say of a series registered here.
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The one copy of the label set `labels` (`(name, value)` pairs; a
/// value shared, as a source's name is, stays shared).
pub(crate) fn label_set(labels: &[(&'static str, SharedString)]) -> &'static [Label] {
    static SETS: Mutex<Option<HashSet<&'static [Label]>>> = Mutex::new(None);
    let wanted: Vec<Label> = labels
        .iter()
        .map(|(name, value)| Label::new(*name, value.clone()))
        .collect();
    let mut sets = SETS.lock();
    let sets = sets.get_or_insert_with(HashSet::new);
    if let Some(set) = sets.get(wanted.as_slice()) {
        return set;
    }
    let set: &'static [Label] = Box::leak(wanted.into_boxed_slice());
    sets.insert(set);
    set
}

/// The counter `name` with `labels`.
pub(crate) fn counter(name: &'static str, labels: &'static [Label]) -> Counter {
    let key = Key::from_static_labels(name, labels);
    metrics::with_recorder(|recorder| recorder.register_counter(&key, &METADATA))
}

/// The gauge `name` with `labels`.
pub(crate) fn gauge(name: &'static str, labels: &'static [Label]) -> Gauge {
    let key = Key::from_static_labels(name, labels);
    metrics::with_recorder(|recorder| recorder.register_gauge(&key, &METADATA))
}

/// The histogram `name` with `labels`.
pub(crate) fn histogram(name: &'static str, labels: &'static [Label]) -> Histogram {
    let key = Key::from_static_labels(name, labels);
    metrics::with_recorder(|recorder| recorder.register_histogram(&key, &METADATA))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_set_is_made_once_and_shared() {
        let set = |source: &str| {
            let source = std::sync::Arc::<str>::from(source);
            label_set(&[("source", source.into()), ("provider", "p".into())])
        };
        let (a, again, b) = (
            set("label-sets-a"),
            set("label-sets-a"),
            set("label-sets-b"),
        );
        assert!(std::ptr::eq(a, again));
        assert!(!std::ptr::eq(a, b));
        let pairs: Vec<_> = a.iter().map(|l| (l.key(), l.value())).collect();
        assert_eq!(pairs, [("source", "label-sets-a"), ("provider", "p")]);
    }
}
