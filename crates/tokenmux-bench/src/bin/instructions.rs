//! Row 10 of docs/benchmarks.md: one workload, repeated, for callgrind to
//! count its instructions. `cargo xtask instructions` runs this binary as
//!
//! ```text
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*counted_region*' \
//!     tokenmux-instructions exchange --provider neonpanel --iterations 200
//! ```
//!
//! and divides the total by the iterations. Only what runs inside
//! [`counted_region`] is counted: the set-up, the warm-up (which opens the
//! pooled connection and fills lazy statics) and the mock, which serves
//! from a child process valgrind does not follow. Instruction counts do not
//! depend on the machine's load, so they can guard CI where timings cannot.

// A benchmark fails loudly on set-up errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

use arc_swap::ArcSwap;
use clap::{Parser, ValueEnum};
use tokenmux::{Credentials, Provider, TokenSource};
use tokenmux_bench::exchange_sides::{by_hand, comparable_providers, with_tokenmux};
use tokenmux_mock::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, MockConfig, MockServer};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// `authorization()` of a source whose token is cached and fresh.
    CachedRead,
    /// `ArcSwap::load_full` of the same header: row 1's floor.
    Floor,
    /// One cold exchange: a new source over an empty memory store, one
    /// `token()` (row 2's tokenmux side).
    Exchange,
    /// The same request with bare reqwest (row 2's baseline).
    ByHand,
}

#[derive(Parser)]
struct Args {
    /// What to repeat.
    #[arg(value_enum, required_unless_present_any = ["serve_mock", "list_providers"])]
    workload: Option<Workload>,
    /// The provider of `exchange` and `by-hand` (default: neonpanel).
    #[arg(long, default_value = "neonpanel")]
    provider: String,
    /// How many times the counted region repeats the workload.
    #[arg(long, default_value_t = 1_000)]
    iterations: u64,
    /// Print the providers `exchange` and `by-hand` take, one per line.
    #[arg(long)]
    list_providers: bool,
    /// Internal: serve the mock, print its address, stop when stdin closes.
    #[arg(long, hide = true)]
    serve_mock: bool,
}

/// Warm-up repetitions before the count starts.
const WARM_UP: u64 = 5;

fn main() {
    let args = Args::parse();
    if args.serve_mock {
        serve_mock();
        return;
    }
    if args.list_providers {
        for provider in comparable_providers() {
            println!("{}", provider.spec().name);
        }
        return;
    }
    let Some(workload) = args.workload else {
        unreachable!("clap requires a workload")
    };
    let mock = MockChild::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    match workload {
        Workload::CachedRead | Workload::Floor => {
            let provider = Provider::neonpanel().with_base_url(mock.base_url("neonpanel"));
            let tokens = TokenSource::builder(provider)
                .credentials(Credentials::client(
                    DEFAULT_CLIENT_ID,
                    DEFAULT_CLIENT_SECRET,
                ))
                .http_client(client)
                .background_refresh(false)
                .build()
                .unwrap();
            let header = runtime.block_on(tokens.authorization()).unwrap();
            if workload == Workload::Floor {
                let current = ArcSwap::from_pointee(header);
                let mut read = || {
                    black_box(current.load_full());
                };
                repeat(&mut read, WARM_UP);
                counted_region(&mut || repeat(&mut read, args.iterations));
            } else {
                let mut read = || {
                    runtime.block_on(async {
                        black_box(tokens.authorization().await.unwrap());
                    })
                };
                repeat(&mut read, WARM_UP);
                counted_region(&mut || {
                    // One `block_on` around all reads, as a caller's task
                    // would read: its cost is not a read's.
                    runtime.block_on(async {
                        for _ in 0..args.iterations {
                            black_box(tokens.authorization().await.unwrap());
                        }
                    })
                });
            }
        }
        Workload::Exchange | Workload::ByHand => {
            let provider = comparable_providers()
                .into_iter()
                .find(|p| p.spec().name == args.provider)
                .unwrap_or_else(|| panic!("no comparable provider {}", args.provider));
            let base = mock.base_url(provider.spec().name);
            let provider = provider.with_base_url(base.as_str());
            let spec = provider.spec();
            let mut exchange = || {
                let token = runtime.block_on(async {
                    match workload {
                        Workload::Exchange => with_tokenmux(&provider, &client).await,
                        _ => by_hand(spec, &base, &client).await,
                    }
                });
                assert!(!black_box(token).is_empty());
            };
            repeat(&mut exchange, WARM_UP);
            counted_region(&mut || repeat(&mut exchange, args.iterations));
        }
    }
    drop(mock);
}

/// The only code callgrind counts (`--toggle-collect` on this name). Not
/// generic and never inlined, so that it is one symbol.
#[inline(never)]
fn counted_region(work: &mut dyn FnMut()) {
    work();
}

fn repeat(work: &mut dyn FnMut(), times: u64) {
    for _ in 0..times {
        work();
    }
}

/// The mock in a child process of this binary: valgrind runs it natively,
/// uncounted.
struct MockChild {
    child: Child,
    addr: String,
}

impl MockChild {
    fn start() -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("--serve-mock")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.trim().to_owned();
        assert!(!addr.is_empty(), "the mock child printed no address");
        Self { child, addr }
    }

    fn base_url(&self, provider: &str) -> String {
        format!("http://{}/{provider}", self.addr)
    }
}

impl Drop for MockChild {
    fn drop(&mut self) {
        // Closing its stdin ends it; a kill covers a child that hangs.
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_mock() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mock = runtime
        .block_on(MockServer::start(MockConfig::default()))
        .unwrap();
    println!("{}", mock.addr());
    // Until the parent closes stdin (or dies).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(mock);
}
