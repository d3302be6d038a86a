//! Latency samples and their summary.

use std::time::Duration;

/// Sorted samples.
pub struct Samples(Vec<Duration>);

impl Samples {
    pub fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        Self(samples)
    }

    /// The `p`-th percentile (0–100), in microseconds.
    pub fn percentile_us(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * (self.0.len() - 1) as f64).round() as usize;
        self.0[rank.min(self.0.len() - 1)].as_secs_f64() * 1e6
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// How many samples are at least `threshold`.
    pub fn at_least(&self, threshold: Duration) -> usize {
        self.0.len() - self.0.partition_point(|d| *d < threshold)
    }
}

/// Prints one measurement as a JSON line for `cargo xtask bench`.
pub fn emit(measurement: tokenmux_bench_report::Measurement) {
    println!("{}", measurement.to_line());
}

/// A mock server on a runtime of its own (one worker thread), so that
/// serving does not compete with the measured side's scheduler. Keep the
/// runtime alive as long as the server is used.
pub fn mock_on_own_runtime() -> (tokenmux_mock::MockServer, OwnRuntime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mock = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                runtime.block_on(tokenmux_mock::MockServer::start(
                    tokenmux_mock::MockConfig::default(),
                ))
            })
            .join()
            .unwrap()
            .unwrap()
    });
    (mock, OwnRuntime(Some(runtime)))
}

/// A runtime that may be dropped inside another one's async context.
pub struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}
