//! The rows of `docs/benchmarks.md` that the load harness measures
//! (2, 3, 4, 6, 7, 8), from its typed [`Measurement`]s.

use tokenmux_bench_report::{
    Agent, AgentMemory, Exchange, FailingHerd, FleetBackoff, Herd, HerdRepeats, HerdRss,
    Measurement, Memory, RedisProcesses, RedisRead,
};

use super::{Row, row};

fn us(micros: f64) -> String {
    match micros.is_finite() {
        true => format!("{micros:.0} µs"),
        false => "–".into(),
    }
}

fn pair(p50: f64, p99: f64) -> String {
    format!("{} / {}", us(p50), us(p99))
}

/// Every row the measurements give, in the table's order.
pub fn rows(measurements: &[Measurement]) -> Vec<Row> {
    let mut rows = Vec::new();
    for m in measurements {
        if let Measurement::Exchange(r) = m {
            rows.extend(exchange(r));
        }
    }
    for m in measurements {
        match m {
            Measurement::Herd(r) => rows.extend(herd(r)),
            Measurement::HerdRepeats(r) => rows.push(herd_repeats(r)),
            Measurement::HerdRss(r) => rows.push(herd_rss(r)),
            _ => {}
        }
    }
    for m in measurements {
        match m {
            Measurement::RedisRead(r) => rows.extend(redis_read(r)),
            Measurement::RedisProcesses(r) => rows.extend(redis_processes(r)),
            _ => {}
        }
    }
    rows
}

/// Rows 6 (memory), 7 and 8, which the table lists after row 5.
pub fn later_rows(measurements: &[Measurement]) -> Vec<Row> {
    let mut rows = Vec::new();
    for m in measurements {
        if let Measurement::Memory(r) = m {
            rows.push(memory(r));
        }
    }
    for m in measurements {
        match m {
            Measurement::FailingHerd(r) => rows.extend(failing_herd(r)),
            Measurement::FleetBackoff(r) => rows.extend(fleet_backoff(r)),
            _ => {}
        }
    }
    for m in measurements {
        match m {
            Measurement::Agent(r) => rows.extend(agent(r)),
            Measurement::AgentMemory(r) => rows.push(agent_memory(r)),
            _ => {}
        }
    }
    rows
}

fn exchange(r: &Exchange) -> Vec<Row> {
    let mut rows = vec![row(
        format!("2. cold exchange, {} (p50)", r.provider),
        us(r.tokenmux_p50_us),
        format!("hand-written reqwest {}", us(r.handwritten_p50_us)),
        Some(r.ratio),
        "≤ 1.05× hand-written",
        Some(r.ratio <= 1.05),
    )];
    if let Some(oauth2) = r.oauth2_p50_us {
        rows.push(row(
            "2. cold exchange, password grant vs `oauth2` crate (p50)",
            us(r.tokenmux_p50_us),
            format!("oauth2 5 {}", us(oauth2)),
            Some(r.tokenmux_p50_us / oauth2),
            "–",
            None,
        ));
    }
    rows
}

fn herd(r: &Herd) -> Vec<Row> {
    let case = &r.case;
    let mut rows = vec![row(
        format!("3. herd of 10,000, {case}: upstream requests"),
        r.upstream_requests.to_string(),
        "10,000 callers",
        None,
        "1",
        Some(r.upstream_requests == 1),
    )];
    rows.push(match r.blocked {
        Some(blocked) => row(
            format!("3. herd of 10,000, {case}: callers blocked"),
            blocked.to_string(),
            format!("p50 wait {}, p99 {}", us(r.wait_p50_us), us(r.wait_p99_us)),
            None,
            "0",
            Some(blocked == 0),
        ),
        None => row(
            format!("3. herd of 10,000, {case}: wait in `token()` p50 / p99"),
            pair(r.wait_p50_us, r.wait_p99_us),
            format!("one exchange alone {}", us(r.one_exchange_us)),
            Some(r.wait_p99_us / r.one_exchange_us),
            "p99 ≤ one exchange",
            Some(r.wait_p99_us <= r.one_exchange_us),
        ),
    });
    rows.push(row(
        format!("3. herd of 10,000, {case}: wait from spawn p50 / p99"),
        pair(r.from_spawn_p50_us, r.from_spawn_p99_us),
        "the scheduler's queue of 10,000 tasks included",
        None,
        "–",
        None,
    ));
    rows
}

fn herd_rss(r: &HerdRss) -> Row {
    let shown = r
        .peak_rss_kib
        .map_or_else(|| "–".to_owned(), |kib| format!("{kib} KiB"));
    row("6. peak RSS of the herd run", shown, "–", None, "–", None)
}

fn redis_read(r: &RedisRead) -> Vec<Row> {
    let mut rows = vec![row(
        "4. Redis shared read p50 / p99",
        pair(r.store_get_p50_us, r.store_get_p99_us),
        format!("bare GET {}", pair(r.bare_get_p50_us, r.bare_get_p99_us)),
        Some(r.store_get_p50_us / r.bare_get_p50_us),
        "–",
        None,
    )];
    for (name, p50, p99) in [
        ("over TLS", r.tls_get_p50_us, r.tls_get_p99_us),
        (
            "on a 3-master cluster",
            r.cluster_get_p50_us,
            r.cluster_get_p99_us,
        ),
    ] {
        rows.push(row(
            format!("4. Redis shared read {name} p50 / p99"),
            pair(p50, p99),
            format!(
                "single node, plaintext {}",
                pair(r.store_get_p50_us, r.store_get_p99_us)
            ),
            Some(p50 / r.store_get_p50_us),
            "–",
            None,
        ));
    }
    rows
}

fn redis_processes(r: &RedisProcesses) -> Vec<Row> {
    let (shared, cluster) = (r.upstream_shared_redis, r.upstream_shared_cluster);
    vec![
        row(
            "4. 8 processes × 100 callers: upstream requests",
            format!("{shared} (Redis store)"),
            format!("{} (memory store each)", r.upstream_memory_each),
            None,
            "1",
            Some(shared == 1),
        ),
        row(
            "4. 8 processes × 100 callers on a cluster: upstream requests",
            format!("{cluster} (Redis Cluster store)"),
            format!("{shared} (single node)"),
            None,
            "1",
            Some(cluster == 1),
        ),
    ]
}

fn herd_repeats(r: &HerdRepeats) -> Row {
    row(
        format!(
            "3. herd of 10,000, at expiry, {} runs: p99 wait in `token()` ≤ one exchange",
            r.runs
        ),
        format!(
            "{} of {} runs (worst p99 {})",
            r.met,
            r.runs,
            us(r.worst_p99_us)
        ),
        format!("one exchange alone {}", us(r.one_exchange_us)),
        Some(r.worst_p99_us / r.one_exchange_us),
        format!("{0} of {0}", r.runs),
        Some(r.met == r.runs),
    )
}

fn memory(r: &Memory) -> Row {
    row(
        "6. heap bytes per cached token",
        format!("{:.0} B", r.bytes_per_cached_token),
        format!("the token and its header alone: {} B", r.raw_token_bytes),
        None,
        "≤ 1 KiB in all",
        Some(r.bytes_per_cached_token <= 1024.0),
    )
}

/// Row 7: the failing herd, against per-waiter retries in the same run.
fn failing_herd(r: &FailingHerd) -> Vec<Row> {
    let callers = r.callers;
    let deadline = r.deadline_ms as f64;
    vec![
        row(
            format!("7. {callers} callers, endpoint always 503: upstream requests"),
            r.upstream_requests.to_string(),
            format!("{} (per-waiter retries)", r.baseline_upstream_requests),
            Some(r.upstream_requests as f64 / r.baseline_upstream_requests.max(1) as f64),
            format!("≤ max_attempts ({})", r.max_attempts),
            Some(r.upstream_requests <= r.max_attempts as u64),
        ),
        row(
            format!("7. {callers} callers, endpoint always 503: slowest caller answered after"),
            format!("{:.0} ms", r.slowest_ms),
            format!("{:.0} ms (per-waiter retries)", r.baseline_slowest_ms),
            Some(r.slowest_ms / r.baseline_slowest_ms),
            format!("≤ retry deadline ({:.0} s)", deadline / 1e3),
            Some(r.slowest_ms <= deadline),
        ),
    ]
}

/// Row 7 (fleet): processes sharing a file cache, against per-process
/// back-off in the same run.
fn fleet_backoff(r: &FleetBackoff) -> Vec<Row> {
    let fleet = format!(
        "7. {} processes × {} callers, one file cache, endpoint always 503",
        r.processes, r.callers_per_process
    );
    vec![
        row(
            format!("{fleet}: upstream requests"),
            r.upstream_requests.to_string(),
            format!("{} (per-process back-off)", r.baseline_upstream_requests),
            Some(r.upstream_requests as f64 / r.baseline_upstream_requests.max(1) as f64),
            format!("≤ max_attempts ({})", r.max_attempts),
            Some(r.upstream_requests <= r.max_attempts as u64),
        ),
        row(
            format!("{fleet}: slowest caller answered after"),
            format!("{:.0} ms", r.slowest_ms),
            format!("{:.0} ms (per-process back-off)", r.baseline_slowest_ms),
            Some(r.slowest_ms / r.baseline_slowest_ms),
            "–",
            None,
        ),
    ]
}

/// Row 8: the agent against a cached `tokenmux token` process.
fn agent(r: &Agent) -> Vec<Row> {
    let cached = format!(
        "cached `tokenmux token` process {}",
        pair(r.cli_cached_p50_us, r.cli_cached_p99_us)
    );
    let connections = r.connections;
    let mut rows = Vec::new();
    for (name, p50, p99, rps) in [
        (
            format!("8. agent over loopback TCP, wrk {connections} connections, p50 / p99"),
            r.tcp_wrk_p50_us,
            r.tcp_wrk_p99_us,
            Some(r.tcp_wrk_rps),
        ),
        (
            "8. agent over the Unix socket while wrk loads TCP, p50 / p99".to_owned(),
            r.unix_under_wrk_p50_us,
            r.unix_under_wrk_p99_us,
            None,
        ),
        (
            format!("8. agent over the Unix socket, {connections} connections, p50 / p99"),
            r.unix_p50_us,
            r.unix_p99_us,
            Some(r.unix_rps),
        ),
    ] {
        let rate = rps.map(|x| format!(", {x:.0} req/s")).unwrap_or_default();
        rows.push(row(
            name,
            format!("{}{rate}", pair(p50, p99)),
            cached.clone(),
            Some(p50 / r.cli_cached_p50_us),
            "p99 < the process's p50",
            Some(p99 < r.cli_cached_p50_us),
        ));
    }
    rows.push(row(
        "8. `tokenmux token NAME` through the agent (a process each), p50 / p99",
        pair(r.cli_via_agent_p50_us, r.cli_via_agent_p99_us),
        cached,
        Some(r.cli_via_agent_p50_us / r.cli_cached_p50_us),
        "–",
        None,
    ));
    let axum = r.axum_wrk_rps;
    rows.push(row(
        format!("8. agent over loopback TCP under wrk ({connections} connections), req/s"),
        format!("{:.0} req/s", r.tcp_wrk_rps),
        format!("a minimal axum server answering a constant body {axum:.0} req/s"),
        Some(r.tcp_wrk_rps / axum),
        "≥ 0.8× axum",
        Some(r.tcp_wrk_rps >= 0.8 * axum),
    ));
    let version = format!("`tokenmux --version` {}", us(r.cli_version_p50_us));
    for (name, p50) in [
        (
            "9. CLI, cached token, whole process p50: file cache",
            r.cli_cached_p50_us,
        ),
        (
            "9. CLI, cached token, whole process p50: through the agent",
            r.cli_via_agent_p50_us,
        ),
    ] {
        let ratio = p50 / r.cli_version_p50_us;
        rows.push(row(
            name,
            us(p50),
            version.clone(),
            Some(ratio),
            "≤ 1.3× `--version`",
            Some(ratio <= 1.3),
        ));
    }
    rows
}

fn agent_memory(r: &AgentMemory) -> Row {
    row(
        format!(
            "8. agent memory per named source ({} sources, all fresh)",
            r.sources
        ),
        format!("{:.0} B", r.bytes_per_source),
        format!(
            "RSS {} KiB with 1 source, {} KiB with all; all fresh after {:.1} s",
            r.rss_one_kib, r.rss_many_kib, r.all_fresh_after_s
        ),
        None,
        "≤ 4 KiB",
        Some(r.bytes_per_source <= 4096.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measurement_gives_its_rows_with_goals_judged() {
        let line = r#"{"row":"failing_herd","callers":1000,"max_attempts":4,"deadline_ms":10000,
            "upstream_requests":4,"slowest_ms":900.0,"baseline_upstream_requests":4000,
            "baseline_slowest_ms":1200.0}"#
            .replace('\n', "");
        let (read, unreadable) = Measurement::parse_lines(&line);
        assert!(unreadable.is_empty(), "{unreadable:?}");
        let rows = later_rows(&read);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].met, Some(true));
        assert_eq!(rows[0].tokenmux, "4");
        assert_eq!(rows[1].goal, "≤ retry deadline (10 s)");
    }
}
