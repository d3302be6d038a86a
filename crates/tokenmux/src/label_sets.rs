//! The label sets of a source's metric series, each made once and shared
//! by every series that carries it.
//!
//! The `metrics` facade copies a series' labels into its own key when a
//! recorder keeps it: 112 bytes a series for `source` and `provider`, ten
//! series a source. A key made with `'static` labels keeps a reference
//! instead, so each distinct set is made once here and kept for the
//! process's life, as recorders keep their series (Prometheus's exporter,
//! without an idle timeout, keeps every series it was given).
//!
//! What is kept is one set per source name, provider, grant and outcome
//! seen, and at most [`MAX_SETS`] of them: past that (an application that
//! names a source per tenant or per request, say), a series gets its own
//! copy of its labels, as the facade gives it, so that what is kept stays
//! bounded even with no recorder to keep anything.

use metrics::{Counter, Gauge, Histogram, Key, Label, Level, Metadata, SharedString};
use parking_lot::Mutex;
use std::collections::HashSet;

/// What the `metrics` macros would say of a series registered here.
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The most sets kept: an agent's 10,000 sources take three each; 65,536
/// sets are about 10 MB.
const MAX_SETS: usize = 65_536;

/// The labels of a series.
#[derive(Debug)]
pub(crate) enum LabelSet {
    /// Made once and shared by every series that carries it.
    Shared(&'static [Label]),
    /// Past [`MAX_SETS`]: copied into each series' key. A thin box, so
    /// that a set is no bigger than the shared reference (16 bytes a
    /// source, which holds one).
    #[allow(clippy::box_collection)]
    Copied(Box<Vec<Label>>),
}

impl LabelSet {
    fn key(&self, name: &'static str) -> Key {
        match self {
            Self::Shared(labels) => Key::from_static_labels(name, labels),
            Self::Copied(labels) => Key::from_parts(name, labels.to_vec()),
        }
    }
}

/// The one copy of the label set `labels` (`(name, value)` pairs; a
/// value shared, as a source's name is, stays shared), or a copy of its
/// own once [`MAX_SETS`] are kept.
pub(crate) fn label_set(labels: &[(&'static str, SharedString)]) -> LabelSet {
    static SETS: Mutex<Option<Interner>> = Mutex::new(None);
    SETS.lock()
        .get_or_insert_with(|| Interner::new(MAX_SETS))
        .get(labels)
}

/// The counter `name` with `labels`.
pub(crate) fn counter(name: &'static str, labels: &LabelSet) -> Counter {
    let key = labels.key(name);
    metrics::with_recorder(|recorder| recorder.register_counter(&key, &METADATA))
}

/// The gauge `name` with `labels`.
pub(crate) fn gauge(name: &'static str, labels: &LabelSet) -> Gauge {
    let key = labels.key(name);
    metrics::with_recorder(|recorder| recorder.register_gauge(&key, &METADATA))
}

/// The histogram `name` with `labels`.
pub(crate) fn histogram(name: &'static str, labels: &LabelSet) -> Histogram {
    let key = labels.key(name);
    metrics::with_recorder(|recorder| recorder.register_histogram(&key, &METADATA))
}

/// The sets made so far, at most `max` of them.
struct Interner {
    sets: HashSet<&'static [Label]>,
    max: usize,
}

impl Interner {
    fn new(max: usize) -> Self {
        Self {
            sets: HashSet::new(),
            max,
        }
    }

    fn get(&mut self, labels: &[(&'static str, SharedString)]) -> LabelSet {
        let wanted: Vec<Label> = labels
            .iter()
            .map(|(name, value)| Label::new(*name, value.clone()))
            .collect();
        if let Some(set) = self.sets.get(wanted.as_slice()) {
            return LabelSet::Shared(set);
        }
        if self.sets.len() >= self.max {
            return LabelSet::Copied(Box::new(wanted));
        }
        let set: &'static [Label] = Box::leak(wanted.into_boxed_slice());
        self.sets.insert(set);
        LabelSet::Shared(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(source: &str) -> [(&'static str, SharedString); 2] {
        let source = std::sync::Arc::<str>::from(source);
        [("source", source.into()), ("provider", "p".into())]
    }

    fn shared(set: LabelSet) -> &'static [Label] {
        match set {
            LabelSet::Shared(labels) => labels,
            LabelSet::Copied(_) => panic!("a copy, not the shared set"),
        }
    }

    #[test]
    fn a_label_set_is_made_once_and_shared() {
        let mut interner = Interner::new(10);
        let a = shared(interner.get(&labels("a")));
        let again = shared(interner.get(&labels("a")));
        let b = shared(interner.get(&labels("b")));
        assert!(std::ptr::eq(a, again));
        assert!(!std::ptr::eq(a, b));
        let pairs: Vec<_> = a.iter().map(|l| (l.key(), l.value())).collect();
        assert_eq!(pairs, [("source", "a"), ("provider", "p")]);
        // The process-wide one shares too.
        let global = shared(label_set(&labels("label-sets-global")));
        assert!(std::ptr::eq(
            global,
            shared(label_set(&labels("label-sets-global")))
        ));
    }

    #[test]
    fn past_the_bound_a_series_gets_a_copy_and_nothing_more_is_kept() {
        let mut interner = Interner::new(2);
        let first = shared(interner.get(&labels("s0")));
        shared(interner.get(&labels("s1")));
        for n in 2..100 {
            let LabelSet::Copied(copy) = interner.get(&labels(&format!("s{n}"))) else {
                panic!("set {n} kept past the bound");
            };
            assert_eq!(copy[0].value(), format!("s{n}"));
        }
        assert_eq!(interner.sets.len(), 2);
        // The sets kept are still shared.
        assert!(std::ptr::eq(first, shared(interner.get(&labels("s0")))));
        // And a copy makes the same key as the shared set would.
        let copied = LabelSet::Copied(Box::new(first.to_vec()));
        assert_eq!(copied.key("n"), LabelSet::Shared(first).key("n"));
    }

    #[test]
    fn a_set_costs_a_source_no_more_than_a_shared_reference() {
        assert_eq!(
            std::mem::size_of::<LabelSet>(),
            std::mem::size_of::<&'static [Label]>()
        );
    }
}
