//! The load harness of `cargo xtask bench`: rows 2, 3, 4, 6 and 7 (two) of
//! docs/benchmarks.md (and row 8 when asked), each against its baseline in the same run, the two
//! sides interleaved in rounds so that a noisy machine slows both alike.
//! Prints one JSON object per row on stdout.

// A benchmark fails loudly on set-up errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent_row;
mod alloc_count;
mod exchange;
mod failing_herd;
mod fleet_row;
mod herd;
mod measure;
mod redis_row;
mod worker;

use clap::{Parser, ValueEnum};

#[global_allocator]
static ALLOCATOR: alloc_count::Counting = alloc_count::Counting;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Row {
    /// Row 2: one cold token exchange per provider vs a hand-written call.
    Exchange,
    /// Row 3: 10,000 concurrent callers, and peak RSS (run it alone).
    Herd,
    /// Row 4: the Redis store.
    Redis,
    /// Row 6: bytes per cached token.
    Memory,
    /// Row 7: 1,000 callers at an endpoint that always fails.
    FailingHerd,
    /// Row 7: 20 processes × 100 callers sharing a file cache, at an
    /// endpoint that always fails.
    Fleet,
    /// Row 8: the agent (`tokenmux serve`); needs --cli.
    Agent,
}

#[derive(Parser)]
struct Args {
    /// Rows to run (default: all).
    #[arg(long, value_enum)]
    row: Vec<Row>,
    /// Rounds of interleaved measurements.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The release `tokenmux` binary, for row 8.
    #[arg(long)]
    cli: Option<std::path::PathBuf>,
    /// Internal: run as one worker process of the Redis row.
    #[arg(long, hide = true)]
    worker: Option<String>,
    /// Internal: run as one worker process of the fleet row.
    #[arg(long, hide = true)]
    fleet_worker: Option<String>,
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    if let Some(worker) = args.worker {
        runtime.block_on(redis_row::worker(&worker));
        return;
    }
    if let Some(worker) = args.fleet_worker {
        runtime.block_on(fleet_row::worker(&worker));
        return;
    }
    let all = args.row.is_empty();
    let wants = |row| all || args.row.contains(&row);
    runtime.block_on(async {
        if wants(Row::Exchange) {
            exchange::run(args.rounds).await;
        }
        if wants(Row::Redis) {
            redis_row::run(args.rounds).await;
        }
        if wants(Row::Memory) {
            herd::memory().await;
        }
        if wants(Row::FailingHerd) {
            failing_herd::run().await;
        }
        if wants(Row::Fleet) {
            fleet_row::run().await;
        }
        if args.row.contains(&Row::Agent) {
            let cli = args.cli.as_deref().expect("--row agent needs --cli");
            agent_row::run(cli).await;
        }
        if wants(Row::Herd) {
            herd::run().await;
        }
    });
}
