//! Row 1: reading a cached, fresh token, on 1 and 2 threads: tokenmux's
//! `authorization()` and `token()` against the floor (`ArcSwap::load_full`
//! of the same header), a `tokio::sync::Mutex<Option<_>>` cache (the
//! yup-oauth2 style) and a `std::sync::RwLock` cache.
//!
//! `cargo xtask bench` runs this in rounds, alternating with the rest, and
//! reads criterion's estimates.

// Benchmarks fail loudly on set-up errors.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::{Arc, Barrier, RwLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use reqwest::header::HeaderValue;
use tokenmux::{Credentials, Provider, TokenSource};
use tokenmux_mock::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, MockConfig, MockServer};

/// One way of keeping the current header.
#[derive(Clone)]
enum Cache {
    TokenmuxHeader(TokenSource),
    TokenmuxToken(TokenSource),
    Floor(Arc<ArcSwap<HeaderValue>>),
    TokioMutex(Arc<tokio::sync::Mutex<Option<HeaderValue>>>),
    StdRwLock(Arc<RwLock<Option<HeaderValue>>>),
}

impl Cache {
    /// `iters` reads on this thread, inside `runtime` for the async ones.
    fn read(&self, runtime: &tokio::runtime::Runtime, iters: u64) -> Duration {
        let start = Instant::now();
        match self {
            Cache::TokenmuxHeader(tokens) => runtime.block_on(async {
                for _ in 0..iters {
                    black_box(tokens.authorization().await.unwrap());
                }
            }),
            Cache::TokenmuxToken(tokens) => runtime.block_on(async {
                for _ in 0..iters {
                    black_box(tokens.token().await.unwrap());
                }
            }),
            Cache::Floor(current) => {
                for _ in 0..iters {
                    black_box(current.load_full());
                }
            }
            Cache::TokioMutex(current) => runtime.block_on(async {
                for _ in 0..iters {
                    black_box(current.lock().await.clone());
                }
            }),
            Cache::StdRwLock(current) => {
                for _ in 0..iters {
                    black_box(current.read().unwrap().clone());
                }
            }
        }
        start.elapsed()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn cached_read(c: &mut Criterion) {
    let setup = tokio::runtime::Runtime::new().unwrap();
    let (tokens, _mock) = setup.block_on(async {
        let mock = MockServer::start(MockConfig::default()).await.unwrap();
        let provider = Provider::neonpanel().with_base_url(mock.base_url("neonpanel"));
        let tokens = TokenSource::builder(provider)
            .credentials(Credentials::client(
                DEFAULT_CLIENT_ID,
                DEFAULT_CLIENT_SECRET,
            ))
            .build()
            .unwrap();
        tokens.token().await.unwrap(); // cached and fresh from here on
        (tokens, mock)
    });
    let header = setup.block_on(tokens.authorization()).unwrap();
    let caches = [
        (
            "tokenmux_authorization",
            Cache::TokenmuxHeader(tokens.clone()),
        ),
        ("tokenmux_token", Cache::TokenmuxToken(tokens.clone())),
        (
            "floor_arcswap_load_full",
            Cache::Floor(Arc::new(ArcSwap::from_pointee(header.clone()))),
        ),
        (
            "tokio_mutex",
            Cache::TokioMutex(Arc::new(tokio::sync::Mutex::new(Some(header.clone())))),
        ),
        (
            "std_rwlock",
            Cache::StdRwLock(Arc::new(RwLock::new(Some(header.clone())))),
        ),
    ];
    let runtimes = [runtime(), runtime()];

    let mut group = c.benchmark_group("cached_read");
    for threads in [1usize, 2] {
        for (name, cache) in &caches {
            group.bench_with_input(BenchmarkId::new(*name, threads), &threads, |b, &threads| {
                // Time per read across all threads: criterion divides the
                // wall time of the slowest thread by the reads of all of them.
                b.iter_custom(|iters| {
                    let per_thread = iters.div_ceil(threads as u64);
                    let barrier = Barrier::new(threads);
                    std::thread::scope(|scope| {
                        let handles: Vec<_> = runtimes[..threads]
                            .iter()
                            .map(|runtime| {
                                let barrier = &barrier;
                                scope.spawn(move || {
                                    barrier.wait();
                                    cache.read(runtime, per_thread)
                                })
                            })
                            .collect();
                        handles
                            .into_iter()
                            .map(|h| h.join().unwrap())
                            .max()
                            .unwrap()
                    })
                });
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(800))
        .sample_size(30);
    targets = cached_read
}
criterion_main!(benches);
