//! A hostile Redis, sentinel or cluster node that announces a 2 GB reply
//! and streams it: the CLI cuts the connection before buffering it, says
//! why, still prints a token, and its memory stays bounded.

use std::process::Command;
use std::time::Duration;

use tokenmux_mock::{MockConfig, MockServer};

use crate::agent::KillOnDrop;
use crate::edges_cli::{FAKE_REDIS_BASE, bounded_watched, wait_for_fake_redis};
use crate::support::{ID, SECRET};

/// A fake Redis (after [`FAKE_REDIS_BASE`]). It answers the connection set-up,
/// and then, to the command named argv[2] (`*` for any other command),
/// a reply claiming 2 GB (argv[3]: `bulk` or `array`), streamed for as
/// long as the reader takes it (at most 1 GiB). The bytes it managed to
/// send are appended to the file argv[4].
const HUGE_REDIS: &str = r#"
target, shape, tally = sys.argv[2].encode(), sys.argv[3], sys.argv[4]
SETUP = {b"PING": b"+PONG\r\n", b"CLIENT": b"+OK\r\n", b"SELECT": b"+OK\r\n",
         b"READONLY": b"+OK\r\n", b"HELLO": b"-ERR unknown command\r\n"}
def flood(connection):
    if shape == "bulk": head, chunk = b"$2000000000\r\n", b"x" * (1 << 20)
    else: head, chunk = b"*2000000000\r\n", b":1\r\n" * (1 << 18)
    sent = 0
    try:
        connection.sendall(head)
        while sent < (1 << 30):
            connection.sendall(chunk); sent += len(chunk)
    except OSError:
        pass
    with open(tally, "a") as out: out.write(f"{sent}\n")
def serve(connection):
    f = connection.makefile("rb")
    while True:
        args = read_command(f)
        if args is None: return
        name = args[0].upper()
        if name == target or (target == b"*" and name not in SETUP): return flood(connection)
        connection.sendall(SETUP.get(name, b"+OK\r\n"))
while True:
    connection, _ = server.accept()
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
"#;

/// Peak resident memory of `pid` so far, in KiB (`VmHWM`), or 0.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Runs the CLI against a fake Redis answering `command` with a `shape`
/// flood; `store` gives the `--redis-*` flags for the fake's port.
/// Returns (stderr, peak RSS in KiB, bytes the fake sent per connection).
async fn against_flood(
    command: &str,
    shape: &str,
    store: impl Fn(u16) -> Vec<String>,
) -> (String, u64, Vec<u64>) {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tally = dir.path().join("sent");
    let port = tokenmux_redis_harness::free_port();
    let _redis = KillOnDrop(
        Command::new("python3")
            .arg("-c")
            .arg(format!("{FAKE_REDIS_BASE}{HUGE_REDIS}"))
            .args([&port.to_string(), command, shape])
            .arg(&tally)
            .spawn()
            .unwrap(),
    );
    wait_for_fake_redis(port);
    let base = mock.base_url("neonpanel");
    let mut args: Vec<String> = ["token", "--provider", "neonpanel", "--base-url", &base]
        .map(str::to_owned)
        .into();
    args.extend(["--cache".to_owned(), "redis".to_owned()]);
    args.extend(store(port));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env = [
        ("TOKENMUX_CLIENT_ID", ID),
        ("TOKENMUX_CLIENT_SECRET", SECRET),
    ];
    let mut peak = 0;
    let (run, _) = bounded_watched(&args, &env, Duration::from_secs(60), |pid| {
        peak = peak.max(peak_rss_kib(pid));
    });
    assert_eq!(run.code, 0, "{} / {}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with("mock-neonpanel-access-"),
        "{} / {}",
        run.stdout,
        run.stderr
    );
    // The fake tallies once its send fails, after the CLI has gone: on a
    // loaded machine that can take a while, so wait for it (bounded).
    let read_tally = || -> Vec<u64> {
        std::fs::read_to_string(&tally)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.parse().ok())
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut sent = read_tally();
    while sent.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        sent = read_tally();
    }
    (run.stderr, peak, sent)
}

/// Well above the CLI's own footprint (about 15 MiB), far below a flood's.
const PEAK_LIMIT_KIB: u64 = 96 * 1024;

fn assert_cut_off(what: &str, stderr: &str, peak: u64, sent: &[u64], cap: &str) {
    eprintln!("{what}: peak RSS {peak} KiB; bytes sent per flooded connection {sent:?}");
    assert!(peak > 0, "no RSS sample taken");
    assert!(peak < PEAK_LIMIT_KIB, "{what}: peak RSS {peak} KiB");
    assert!(!sent.is_empty(), "{what}: the fake never flooded");
    // Cut off: the fake could not send its 1 GiB.
    assert!(
        sent.iter().all(|bytes| *bytes < 1 << 30),
        "{what}: {sent:?}"
    );
    assert!(
        stderr.contains(&format!("sent a reply larger than {cap} bytes")),
        "{what}: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_announcing_a_huge_bulk_string_is_cut_off_before_it_is_buffered() {
    let url = |port| {
        vec![
            "--redis-url".to_owned(),
            format!("redis://127.0.0.1:{port}"),
        ]
    };
    let (stderr, peak, sent) = against_flood("*", "bulk", url).await;
    assert_cut_off("bulk", &stderr, peak, &sent, "1048576");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_announcing_a_huge_array_is_cut_off_at_the_configured_cap() {
    let url = |port| {
        [
            "--redis-url".to_owned(),
            format!("redis://127.0.0.1:{port}"),
            "--redis-max-reply-bytes".to_owned(),
            "100000".to_owned(),
        ]
        .into()
    };
    let (stderr, peak, sent) = against_flood("*", "array", url).await;
    assert_cut_off("array", &stderr, peak, &sent, "100000");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sentinel_announcing_a_huge_reply_is_cut_off() {
    let sentinel = |port| {
        [
            "--redis-sentinel".to_owned(),
            format!("redis://127.0.0.1:{port}"),
            "--redis-master".to_owned(),
            "tokens".to_owned(),
        ]
        .into()
    };
    let (stderr, peak, sent) = against_flood("SENTINEL", "array", sentinel).await;
    assert_cut_off("sentinel", &stderr, peak, &sent, "1048576");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_node_announcing_a_huge_slot_map_is_cut_off() {
    let cluster = |port| {
        [
            "--redis-cluster".to_owned(),
            format!("redis://127.0.0.1:{port}"),
        ]
        .into()
    };
    let (stderr, peak, sent) = against_flood("CLUSTER", "bulk", cluster).await;
    eprintln!("cluster: {stderr}");
    assert!(peak < PEAK_LIMIT_KIB, "cluster: peak RSS {peak} KiB");
    assert!(!sent.is_empty() && sent.iter().all(|bytes| *bytes < 1 << 30));
}
