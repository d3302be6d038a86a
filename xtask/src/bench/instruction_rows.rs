//! Row 10 of `docs/benchmarks.md`: instructions per operation under
//! callgrind (`cargo xtask instructions`), each against its committed
//! figure, with the baseline's count beside it.

use super::{Row, row};
use crate::instructions::{Count, TOLERANCE};

/// One row per count, in the order measured.
pub fn rows(counts: &[Count]) -> Vec<Row> {
    counts
        .iter()
        .map(|count| {
            let what = match count.name.split_once('/') {
                Some(("exchange", provider)) => format!("a cold exchange, {provider}"),
                _ => "a cached `authorization()`".to_owned(),
            };
            let committed = count
                .committed
                .map_or_else(|| "none".to_owned(), |c| format!("{c}"));
            row(
                format!("10. instructions per {what} (callgrind)"),
                format!("{} instructions", count.tokenmux),
                format!(
                    "committed {committed} ({} {}: {:.2}×)",
                    count.baseline_name,
                    count.baseline,
                    count.tokenmux as f64 / count.baseline.max(1) as f64
                ),
                count.committed.map(|c| count.tokenmux as f64 / c as f64),
                format!(
                    "≤ {:.2}× committed (`.ci/run` fails above)",
                    1.0 + TOLERANCE
                ),
                count.within_tolerance(),
            )
        })
        .collect()
}
