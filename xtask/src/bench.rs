//! `cargo xtask bench`: every benchmark of docs/benchmarks.md in one run,
//! each against its baseline, and one markdown table of figures, ratios and
//! goals, printed and written to docs/benchmarks.md.
//!
//! Row 1 is criterion (`crates/tokenmux-bench/benches/cached_read.rs`), run
//! in rounds; rows 2, 3, 4 and 6 are the load harness
//! (`tokenmux-loadbench`), whose sides alternate in rounds; row 5 (codegen)
//! runs here; row 10 is `cargo xtask instructions`; row 11 times the
//! README's two commands on fresh clones.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use serde_json::Value;
use tokenmux_bench_report::Measurement;

use crate::task_error::TaskError;

// Row 11: the README's commands on a fresh clone.
mod fresh_clone;
// Row 10, from `cargo xtask instructions`.
mod instruction_rows;
// The rows the load harness measures.
mod rows;

const CRITERION_ROUNDS: usize = 3;
const SYNTHETIC: [usize; 3] = [25, 50, 100];

pub fn run(root: &Path) -> Result<ExitCode, TaskError> {
    crate::test::ensure_redis()?;
    // wrk loads the agent in row 8.
    crate::test::ensure_program("wrk", "wrk")?;
    let started = Instant::now();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("xtask: building the benchmarks (release)");
    status(
        Command::new(&cargo)
            .args([
                "build",
                "--release",
                "-p",
                "tokenmux-bench",
                "-p",
                "tokenmux-cli",
                "--bins",
                "--benches",
            ])
            .current_dir(root),
    )?;

    let mut rows = Vec::new();
    rows.extend(cached_reads(root, &cargo)?);
    let mut harness = load_harness(
        root,
        &cargo,
        &[
            "--row",
            "exchange",
            "--row",
            "redis",
            "--row",
            "failing-herd",
            "--row",
            "fleet",
        ],
    )?;
    // Bytes per cached token alone in its process: the rows before it leave
    // tasks and connections behind whose late frees a shared process would
    // subtract from the count (628 B instead of 966 B in one such run).
    harness.extend(load_harness(root, &cargo, &["--row", "memory"])?);
    // The herd alone in its process, so that its peak RSS is its own.
    harness.extend(load_harness(root, &cargo, &["--row", "herd"])?);
    let cli = target_dir(root).join("release/tokenmux");
    let cli = cli
        .to_str()
        .ok_or_else(|| TaskError::Check("the target directory is not UTF-8".into()))?;
    harness.extend(load_harness(
        root,
        &cargo,
        &["--row", "agent", "--cli", cli],
    )?);
    rows.extend(rows::rows(&harness));
    rows.extend(codegen_rows(root)?);
    rows.extend(rows::later_rows(&harness));
    rows.extend(instruction_rows::rows(&crate::instructions::measure(
        root, &cargo,
    )?));
    rows.extend(fresh_clone::rows(root, &cargo)?);

    let table = render(&rows);
    println!("{table}");
    let doc = format!(
        "# Benchmarks\n\n\
         Measured by `cargo xtask bench` on {date}, on {machine}; the run took {minutes:.1} min\n\
         (building the benchmarks and row 11's fresh clones included; building the xtask\n\
         itself, 36 s from an empty target directory on this kind of machine, not).\n\
         Each row runs tokenmux and its baseline in the same run, alternating in rounds,\n\
         so a noisy machine slows both alike; ratios are tokenmux ÷ baseline.\n\n{table}\n{notes}",
        date = today(),
        machine = machine(),
        minutes = started.elapsed().as_secs_f64() / 60.0,
        notes = NOTES,
    );
    std::fs::write(root.join("docs/benchmarks.md"), doc)
        .map_err(|e| TaskError::io("docs/benchmarks.md", e))?;
    eprintln!("xtask: wrote docs/benchmarks.md");
    Ok(ExitCode::SUCCESS)
}

const NOTES: &str = "\
## Notes

- Row 1: criterion, 30 samples per variant per round, median of the round medians.
  On 2 threads the figure is wall time ÷ all reads (inverse throughput).
  The floor is an `ArcSwap::load_full` of the same header; tokenmux adds the
  clock read, the freshness check and the header clone.
- Row 2: the `oauth2` crate can express only the password grant here
  (NeonPanel sends JSON without a grant type, Airalo answers in a `data`
  envelope, the JSON:API endpoint speaks `application/vnd.api+json`).
- Row 3: the wait in `token()` runs from the moment a task asks; the wait
  from spawn adds the time the task sat in the scheduler's queue behind
  10,000 others (spawned at once on 2 cores), which no cache can remove.
  \"blocked\" counts callers that waited for the (50 ms) refresh; with
  refresh-ahead they get the stale token at once. The mock serves from a
  runtime of its own (one thread), as in row 2: a token endpoint is not
  served by its callers' threads.
- Row 5: the code generator as `cargo xtask regen` runs it (the debug
  build of `xtask-codegen`, in the dev profile of row 11's note; each
  figure is one run of its binary, process start included, and one
  rustfmt process formats all of a run's files); synthetic specs are
  copies of the four, generated into a temp dir.
- Row 2: the hand-written call is bare reqwest, built from the same spec
  (its fields, media types and Basic auth), and does only the request.
  tokenmux adds the generated glue (the typed body filled from the spec's
  pointers, the typed answer mapped into one token shape), the generated
  client's request building and the `tokenmux-wire` hooks (the
  body read under a size cap, the response rebuilt for the typed decoder;
  an exploratory run of the generated client alone put most of the gap
  there), then the lifecycle (store write, lease, header). Each exchange
  builds a new source over the default memory store, which marks its
  tokens with the one-HMAC in-process verifier; over a file or Redis
  store the 8,192-round PBKDF2 verifier (about 1 ms here, once per source
  and process) would come on top. Where the goal is missed, row 10's
  counts say why: of about 190,000 instructions per neonpanel exchange
  against bare reqwest's 87,000, building the source takes about 30,000
  (its checks, store key and metric handles), the in-process verifier
  about 19,000 (SHA-256 without the CPU's SHA extensions under valgrind),
  the glue and hooks about 15,000, and the flight's task, the store write
  and the header the rest. The flight's future is boxed before it is
  spawned: moving it into the task and out again was 160,000 more.
- Row 1, 2 threads: the floor's two threads pass its `Arc`'s reference
  count back and forth between the cores; tokenmux keeps one copy of the
  header per core, each counted on a cache line of its own, so its
  threads do not, and it can beat the floor. A `tokio::sync::Mutex` costs
  one compare-and-swap when the two threads do not collide and much more
  when they do, so its figure swings from run to run with how often they
  collide; the ratio is what this run measured.
- Row 3, empty cache and at expiry: the refresh is now a task of the
  source (so a caller that gives up cancels nothing), one scheduling hop
  away from the callers. In 5 alternating runs of this row against the
  harness built before that change, the p99 wait in `token()` was
  0–3,110 µs (empty cache) and 0–4,440 µs (at expiry) here, against
  0–424 µs and 0–1 µs before: 3 of 10 cases here spiked to milliseconds,
  on 2 cores with 10,000 tasks queued. Medians and upstream requests are
  unchanged. Since then the flight wakes its waiters 64 at a time: woken
  all at once, most overflowed the worker's local queue to the back of
  the global one, behind the callers that had not started.
- Row 7: retry delays of 1–4 ms, 4 attempts, a 30 s deadline, so that the
  baseline's 1,000 retry loops (the lock of a single flight held by each
  waiter in turn, each retrying on its own, as before the flight was a
  task) end in seconds; every caller of both sides gets the 503.
- Row 7, processes: 20 worker processes of the harness, 100 callers
  each, one file cache, retry delays of 5–20 ms and 4 attempts. The
  baseline is the same code over a store that drops the failure from
  every record written (per-process back-off, as before failures were
  shared): the lease makes the processes take turns, and each runs its
  own retries. \"Slowest\" counts from the moment every process was told
  to go.
- Row 1, 1 thread: the floor is one atomic increment and decrement;
  tokenmux adds the clock read (the coarse monotonic clock, compared as
  it is with the entry's refresh point in the same ticks), the freshness
  check, the poll of an async call and the source's cache-hit counter (a
  no-op handle when no recorder is installed, as here).
- Row 6: heap bytes one more `TokenSource` holding a cached token costs
  (counted by a global allocator; the token taken from a shared store, so
  no HTTP allocation counts). The header's copies per core (about 300 B
  each, which row 1 on 2 threads pays for) are made as threads first
  read it; this row reads `token()` only, so it holds the header once.
  Most of the rest is the source's own state (provider, credentials,
  HTTP client, metric handles, about 680 B with the policies it keeps at
  their defaults, which all such sources share) and the cached entry
  (about 240 B with the token's times and header). Peak RSS is the herd
  process's own.
- Row 9: one process of the release binary per run, median of 3 rounds
  of 100 runs each of `tokenmux --version` (clap, no runtime, no I/O: the
  floor of any process of this binary), the file-cache command and the
  command through the agent, one of each in turn (this VM's process start
  drifts by a third within a minute). The file-cache command
  checks that the cached token was obtained with these credentials: the
  record's verifier is PBKDF2-HMAC-SHA256 of the secrets, 8,192 rounds,
  deliberately slow so that whoever reads the cache cannot guess a
  password fast (about 1 ms here, once per process); that is most of
  what it costs above the floor, and it stays. Through the agent, the
  process makes one request on the Unix socket and no verifier, and
  builds no async runtime; most of what it costs above the floor is
  waking the agent on the other vCPU: under `strace -T` here, connect(2)
  and the request's send(2) take about 0.15 ms each, against 0.03 ms for
  the calls that wake no one.
- Row 4: each Redis is a real `redis-server` on loopback (the tests' harness):
  one node, one node serving TLS only (a CA made for the run), and a
  3-master cluster with 3 replicas. The reads interleave in rounds over
  connections already open, so the TLS figure is the cost of encrypting
  a read (the handshake is once per connection), and the cluster figure
  the cost of the cluster client's routing; each store's own token. The
  8 processes start empty against each Redis in turn.
- Row 8: the release `tokenmux` binary serving one source from the mock,
  its token fresh, so every request is a cached read plus HTTP. wrk
  speaks TCP only: it loads the TCP listener (1 thread, 32 connections,
  4 s), and meanwhile one client of the harness asks over the Unix
  socket, back to back (the second row); the third row is the Unix socket
  alone under 32 connections of the harness's own client (reqwest). The
  baseline is what a script does without an agent: one `tokenmux token
  NAME --no-agent` process per token, reading the file cache (warmed
  first), 100 runs, median of 3 rounds, run in turn with `--version` and
  the same command through the agent. Memory: the agent's RSS once every
  token is fresh, with 10,000 sources (one config, one mock) against one
  source; it includes the allocator's retained pages after 10,000
  fetches, so it is an upper bound of what a source holds.
- Row 8, against axum: the same wrk load (1 thread, 32 connections, 4 s)
  on a minimal axum server of the harness, on a runtime of its own,
  answering every GET with a constant body the size of the agent's
  answer. Per request the agent checks the bearer, finds the source,
  reads its cached token and writes the token's JSON (with its RFC 3339
  expiry), before its router (which answers everything else): callgrind
  counts about 18,200 instructions a request over loopback TCP, hyper's
  parsing and writing included (28,700 through the router).
- Row 3, 10 runs: the at-expiry herd again, 10 times on one source (its
  token fetched, the clock moved to its expiry, 10,000 callers). A caller
  that asks as the flight starts waits the whole exchange plus its turn
  among the woken waiters, so the p99 lands near one exchange. A run
  misses when the flight itself takes longer than one exchange alone: its
  I/O wake-ups queue behind the callers, and the harness's threads (2
  workers, the one that spawns the herd, the mock's) share 2 cores.
- Row 10: `cargo xtask instructions` runs one workload binary per row
  under valgrind's callgrind, which counts only the function the
  iterations run in (100,000 cached reads; 200 cold exchanges, each a new
  source as in row 2, after a warm-up that opens the pooled connection;
  the mock serves from a child process callgrind does not follow). The
  counts repeat within a fraction of a percent, so `.ci/run` runs
  `cargo xtask instructions --check`, which fails when one is more than
  5 % above the figure committed in `crates/tokenmux-bench/instructions.json`.
  The baselines' counts (the floor of row 1, bare reqwest of row 2) are
  beside them for scale; valgrind's emulated CPU has no SHA extensions,
  so the verifier's SHA-256 costs more instructions here than it takes
  time on the machine.
- Row 11: each README command in its own `git clone` of HEAD, with an
  empty target directory and nothing else set, timed to its exit; the
  crates come from cargo's download cache, as for anyone who has built a
  Rust project before. Both build in the dev profile that
  `.cargo/config.toml` sets: dependencies without debug info and at
  opt-level 0 (three hot ones at 1), our crates with line tables only.
  The test command includes what it installs when missing (here:
  nothing) and its `package` step (the CLI installed in the dev profile
  from its packaged crates and from its path, and the Debian package;
  `cargo xtask package`, which CI also runs, builds them in release).
";

struct Row {
    name: String,
    tokenmux: String,
    baseline: String,
    ratio: Option<f64>,
    goal: String,
    met: Option<bool>,
}

fn row(
    name: impl Into<String>,
    tokenmux: impl Into<String>,
    baseline: impl Into<String>,
    ratio: Option<f64>,
    goal: impl Into<String>,
    met: Option<bool>,
) -> Row {
    Row {
        name: name.into(),
        tokenmux: tokenmux.into(),
        baseline: baseline.into(),
        ratio,
        goal: goal.into(),
        met,
    }
}

fn render(rows: &[Row]) -> String {
    let mut out = String::from(
        "| benchmark | tokenmux | baseline (same run) | ratio | goal | met |\n|---|---|---|---:|---|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            r.name,
            r.tokenmux,
            r.baseline,
            r.ratio
                .map(|x| format!("{x:.2}"))
                .unwrap_or_else(|| "–".into()),
            r.goal,
            match r.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "–",
            }
        );
    }
    out
}

fn status(command: &mut Command) -> Result<(), TaskError> {
    let what = format!("{command:?}");
    let status = command.status().map_err(|e| TaskError::spawn(&what, e))?;
    TaskError::check_status(what, status)
}

/// Row 1: criterion's median estimate (ns) per variant, median over rounds.
fn cached_reads(root: &Path, cargo: &str) -> Result<Vec<Row>, TaskError> {
    let variants = [
        "tokenmux_authorization",
        "tokenmux_token",
        "floor_arcswap_load_full",
        "tokio_mutex",
        "std_rwlock",
    ];
    let mut estimates = vec![vec![Vec::new(); 2]; variants.len()];
    for round in 0..CRITERION_ROUNDS {
        eprintln!(
            "xtask: cached reads, criterion round {}/{CRITERION_ROUNDS}",
            round + 1
        );
        status(
            Command::new(cargo)
                .args([
                    "bench",
                    "-p",
                    "tokenmux-bench",
                    "--bench",
                    "cached_read",
                    "--",
                    "--noplot",
                ])
                .current_dir(root)
                .stdout(Stdio::null()),
        )?;
        for (v, variant) in variants.iter().enumerate() {
            for (t, threads) in [1, 2].iter().enumerate() {
                let path = target_dir(root).join(format!(
                    "criterion/cached_read/{variant}/{threads}/new/estimates.json"
                ));
                let json: Value = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|text| serde_json::from_str(&text).ok())
                    .ok_or_else(|| {
                        TaskError::Check(format!("no criterion estimates at {}", path.display()))
                    })?;
                let ns = json["median"]["point_estimate"].as_f64().ok_or_else(|| {
                    TaskError::Check(format!("malformed estimates at {}", path.display()))
                })?;
                estimates[v][t].push(ns);
            }
        }
    }
    let median = |v: usize, t: usize| {
        let mut xs = estimates[v][t].clone();
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    let fmt = |ns: f64| format!("{ns:.1} ns/op ({:.1} M ops/s)", 1e3 / ns);
    let mut rows = Vec::new();
    for (t, threads) in [1, 2].iter().enumerate() {
        let (header, token, floor, mutex, rwlock) = (
            median(0, t),
            median(1, t),
            median(2, t),
            median(3, t),
            median(4, t),
        );
        // Issue 27: 1 thread within 1.5× the floor, 2 threads at most the floor.
        let goal = if *threads == 1 { 1.5 } else { 1.0 };
        rows.push(row(
            format!("1. cached `authorization()`, {threads} thread(s), vs floor"),
            fmt(header),
            format!("ArcSwap::load_full {}", fmt(floor)),
            Some(header / floor),
            format!("≤ {goal:.1}× floor"),
            Some(header / floor <= goal),
        ));
        rows.push(row(
            format!("1. cached `authorization()`, {threads} thread(s), vs tokio Mutex"),
            fmt(header),
            format!("tokio::sync::Mutex {}", fmt(mutex)),
            Some(header / mutex),
            if *threads == 2 {
                "≥ 10× faster (ratio ≤ 0.10)"
            } else {
                "–"
            },
            (*threads == 2).then_some(header / mutex <= 0.10),
        ));
        rows.push(row(
            format!("1. cached `authorization()`, {threads} thread(s), vs std RwLock"),
            fmt(header),
            format!("std::sync::RwLock {}", fmt(rwlock)),
            Some(header / rwlock),
            "–",
            None,
        ));
        rows.push(row(
            format!("1. cached `token()` (clones the secret), {threads} thread(s)"),
            fmt(token),
            format!("ArcSwap::load_full {}", fmt(floor)),
            Some(token / floor),
            "–",
            None,
        ));
    }
    Ok(rows)
}

/// Runs the load harness; its measurements. A line that is none is
/// reported: the table will miss its row.
fn load_harness(root: &Path, cargo: &str, args: &[&str]) -> Result<Vec<Measurement>, TaskError> {
    eprintln!("xtask: load harness {}", args.join(" "));
    let output = Command::new(cargo)
        .args([
            "run",
            "--quiet",
            "--release",
            "-p",
            "tokenmux-bench",
            "--bin",
            "tokenmux-loadbench",
            "--",
        ])
        .args(args)
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| TaskError::spawn("the load harness", e))?;
    TaskError::check_status("the load harness", output.status)?;
    let (read, unreadable) = Measurement::parse_lines(&String::from_utf8_lossy(&output.stdout));
    for line in unreadable {
        eprintln!("xtask: the load harness printed what is no measurement: {line}");
    }
    Ok(read)
}

/// The specs in `dir` (`*.yaml`), by name, sorted, with their texts.
fn spec_texts(dir: &Path) -> Result<Vec<(String, String)>, TaskError> {
    let entries = std::fs::read_dir(dir).map_err(|e| TaskError::io(dir, e))?;
    let mut specs = Vec::new();
    for path in entries.filter_map(Result::ok).map(|entry| entry.path()) {
        let Some(name) = path
            .file_stem()
            .filter(|_| path.extension().is_some_and(|ext| ext == "yaml"))
            .and_then(|stem| stem.to_str())
        else {
            continue;
        };
        let text = std::fs::read_to_string(&path).map_err(|e| TaskError::io(&path, e))?;
        specs.push((name.to_owned(), text));
    }
    specs.sort();
    Ok(specs)
}

/// Row 5: `regen` on the real specs (as `--check`), then on 25/50/100
/// synthetic ones in a temp dir, each a run of the generator's binary.
fn codegen_rows(root: &Path) -> Result<Vec<Row>, TaskError> {
    eprintln!("xtask: codegen timings");
    let generator = crate::regen::build(root)?;
    let start = Instant::now();
    crate::regen::run_binary(&generator, root, true)?;
    let real = start.elapsed().as_secs_f64();
    let specs = spec_texts(&root.join("specs"))?;
    let mut rows = vec![row(
        format!("5. `cargo xtask regen`, the {} specs", specs.len()),
        format!("{real:.2} s"),
        format!("{:.3} s/spec", real / specs.len().max(1) as f64),
        None,
        "–",
        None,
    )];
    // Linear growth: the time per spec stays that of the smallest run
    // (the real specs pay fixed costs a larger run spreads out).
    let mut per_spec_first = None;
    for n in SYNTHETIC {
        let dir = tempfile::tempdir().map_err(|e| TaskError::io("a scratch directory", e))?;
        for sub in ["specs", "crates"] {
            let path = dir.path().join(sub);
            std::fs::create_dir_all(&path).map_err(|e| TaskError::io(&path, e))?;
        }
        for i in 0..n {
            let (name, text) = &specs[i % specs.len()];
            let path = dir.path().join(format!("specs/syn{i:03}{name}.yaml"));
            std::fs::write(&path, text).map_err(|e| TaskError::io(&path, e))?;
        }
        let start = Instant::now();
        crate::regen::run_binary(&generator, dir.path(), false)?;
        let secs = start.elapsed().as_secs_f64();
        let per_spec = secs / n as f64;
        let first = *per_spec_first.get_or_insert(per_spec);
        let ratio = per_spec / first;
        rows.push(row(
            format!("5. `regen`, {n} synthetic specs"),
            format!("{secs:.2} s ({per_spec:.3} s/spec)"),
            format!("{first:.3} s/spec at {} specs", SYNTHETIC[0]),
            Some(ratio),
            if n == 100 {
                "< 30 s; linear (s/spec ratio ≈ 1)"
            } else {
                "linear (s/spec ratio ≈ 1)"
            },
            Some(ratio < 1.3 && (n < 100 || secs < 30.0)),
        ));
    }
    Ok(rows)
}

/// Where cargo builds (and criterion writes its estimates).
pub(crate) fn target_dir(root: &Path) -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        })
        .unwrap_or_else(|| root.join("target"))
}

fn today() -> String {
    Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "?".into())
}

/// "N cores, CPU model" from the OS.
fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores, {model}")
}
