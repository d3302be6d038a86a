//! `tokenmux serve`: one process keeps every named source fresh and hands
//! tokens to the host's processes, over a Unix socket (mode 0600, peers
//! checked by uid) and, when asked, loopback TCP behind a bearer.
//! SIGHUP reloads the config (unchanged sources keep their tokens); SIGTERM
//! and SIGINT drain in-flight requests and exit.

mod access;
pub(crate) mod client;
mod registry;
mod routes;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use clap::Args;
use tokio::net::{TcpListener, UnixListener};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Semaphore, watch};

use crate::Failure;
use crate::config_file;
use access::{AllowedUids, Bearer, Peer};
use registry::Registry;
use routes::AgentState;

/// How long SIGTERM waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Options of `tokenmux serve`.
#[derive(Args)]
pub(crate) struct ServeArgs {
    /// The config file with `sources:` (default: $TOKENMUX_CONFIG, else the
    /// user's config directory).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The Unix socket to serve on (default: $TOKENMUX_AGENT_SOCKET, else
    /// `tokenmux/agent.sock` in the user's runtime directory).
    #[arg(long, env = "TOKENMUX_AGENT_SOCKET")]
    socket: Option<PathBuf>,
    /// Also serve on this loopback address (e.g. 127.0.0.1:7878), behind a
    /// bearer written to --bearer-file.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Where the TCP listener's bearer is written, mode 0600 (default:
    /// `agent.bearer` beside the socket).
    #[arg(long)]
    bearer_file: Option<PathBuf>,
}

/// `$XDG_RUNTIME_DIR/tokenmux/agent.sock`, else a directory of this user's
/// own in the temporary directory. The directory is made 0700.
pub(crate) fn default_socket() -> PathBuf {
    let uid = rustix::process::geteuid().as_raw();
    let dir = match dirs::runtime_dir() {
        Some(dir) => dir.join("tokenmux"),
        None => std::env::temp_dir().join(format!("tokenmux-{uid}")),
    };
    dir.join("agent.sock")
}

/// The default socket, for a client: only when its directory is this
/// user's and closed to others. In a shared temporary directory another
/// user could have made it, and answer with tokens of their choosing.
pub(crate) fn trusted_default_socket() -> Option<PathBuf> {
    let socket = default_socket();
    is_private_dir(socket.parent()?).then_some(socket)
}

fn is_private_dir(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let uid = rustix::process::geteuid().as_raw();
    std::fs::symlink_metadata(dir)
        .is_ok_and(|meta| meta.is_dir() && meta.uid() == uid && meta.mode() & 0o077 == 0)
}

/// Creates `dir` 0700, or checks that it is this user's and closed to
/// others (a directory someone else made could hold their socket).
fn private_dir(dir: &Path) -> Result<(), Failure> {
    use std::os::unix::fs::DirBuilderExt as _;
    let shown = dir.display();
    if let Err(e) = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        return Err(Failure::usage(format!("cannot create {shown}: {e}")));
    }
    if !is_private_dir(dir) {
        return Err(Failure::usage(format!(
            "{shown} must be a directory of this user's, closed to others (mode 0700)"
        )));
    }
    Ok(())
}

/// Binds the socket: a stale one (nobody answering) is replaced; a live
/// agent's is not.
async fn bind_socket(path: &Path) -> Result<UnixListener, Failure> {
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
    let shown = path.display();
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(Failure::usage(format!(
                "{shown} exists and is not a socket"
            )));
        }
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return Err(Failure::usage(format!(
                "an agent already serves on {shown}"
            )));
        }
        std::fs::remove_file(path)
            .map_err(|e| Failure::usage(format!("cannot replace {shown}: {e}")))?;
    }
    // Born 0600: no moment in which another user could connect. (The
    // umask is the process's; for this instant, files made by other
    // threads are only made more private.)
    let previous = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
    let bound = UnixListener::bind(path);
    rustix::process::umask(previous);
    let listener = bound.map_err(|e| Failure::usage(format!("cannot listen on {shown}: {e}")))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Failure::usage(format!("cannot make {shown} 0600: {e}")))?;
    Ok(listener)
}

pub(crate) async fn run(args: ServeArgs) -> Result<(), Failure> {
    if let Some(address) = args.listen.filter(|a| !a.ip().is_loopback()) {
        return Err(Failure::usage(format!(
            "--listen {address} is not a loopback address: the agent serves this host only"
        )));
    }
    let (config_path, mut file) = config_file::load_named(args.config.as_deref())?;
    // Before any source is built: their metric handles bind to it.
    // Fetch latency as a histogram (aggregatable across agents), not
    // the exporter's default summary, which also costs more per source.
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full("tokenmux_fetch_duration_seconds".into()),
            &[
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ],
        )
        .map_err(|e| Failure::usage(format!("metrics: {e}")))?
        .build_recorder();
    let metrics = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|_| Failure::usage("a metrics recorder is installed already"))?;

    let http = registry::http_client()?;
    let permits = Arc::new(Semaphore::new(registry::CONCURRENT_REFRESHES));
    let (built, _) = Registry::build(&file.sources, &Registry::default(), &http, &permits)?;
    // The registry holds each source's config; the file's copy is not kept.
    file.sources.clear();
    let registry = Arc::new(ArcSwap::from_pointee(built));
    let state = AgentState {
        registry: Arc::clone(&registry),
        metrics,
    };

    let socket = match args.socket {
        Some(socket) => socket,
        None => {
            let socket = default_socket();
            if let Some(dir) = socket.parent() {
                private_dir(dir)?;
            }
            socket
        }
    };
    let unix = bind_socket(&socket).await?;
    let allowed = AllowedUids::default();
    allowed.set(&file.agent.allowed_uids);
    let unix_app = routes::router(state.clone()).layer(axum::middleware::from_fn_with_state(
        allowed.clone(),
        access::check_peer,
    ));

    let (stop, stopped) = watch::channel(false);
    let drained = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let mut servers = tokio::task::JoinSet::new();
    servers.spawn(
        axum::serve(unix, unix_app.into_make_service_with_connect_info::<Peer>())
            .with_graceful_shutdown(drained(stopped.clone()))
            .into_future(),
    );
    eprintln!(
        "tokenmux: serving {} source(s) on {}",
        registry.load().sources.len(),
        socket.display()
    );

    let mut bearer_file = None;
    if let Some(address) = args.listen {
        let path = match args.bearer_file {
            Some(path) => path,
            None => socket.with_file_name("agent.bearer"),
        };
        let bearer = Bearer::random();
        bearer
            .write_to(&path)
            .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))?;
        let tcp = TcpListener::bind(address)
            .await
            .map_err(|e| Failure::usage(format!("cannot listen on {address}: {e}")))?;
        let local = tcp
            .local_addr()
            .map_err(|e| Failure::usage(e.to_string()))?;
        let tcp_app = routes::router(state.clone()).layer(axum::middleware::from_fn_with_state(
            bearer,
            access::check_bearer,
        ));
        servers.spawn(
            axum::serve(tcp, tcp_app)
                .with_graceful_shutdown(drained(stopped.clone()))
                .into_future(),
        );
        eprintln!(
            "tokenmux: serving on http://{local} (bearer in {})",
            path.display()
        );
        bearer_file = Some(path);
    }

    let mut hangup = signal(SignalKind::hangup()).map_err(|e| Failure::usage(e.to_string()))?;
    let mut terminate =
        signal(SignalKind::terminate()).map_err(|e| Failure::usage(e.to_string()))?;
    let mut interrupt =
        signal(SignalKind::interrupt()).map_err(|e| Failure::usage(e.to_string()))?;
    loop {
        tokio::select! {
            _ = hangup.recv() => reload(&config_path, &registry, &allowed, &http, &permits),
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            Some(ended) = servers.join_next() => {
                tracing::error!(?ended, "a listener of the agent ended");
                break;
            }
        }
    }
    eprintln!("tokenmux: draining");
    let _ = stop.send(true);
    let drain = async { while servers.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
        eprintln!("tokenmux: requests still in flight after {DRAIN_TIMEOUT:?}; exiting");
    }
    let _ = std::fs::remove_file(&socket);
    if let Some(path) = bearer_file {
        let _ = std::fs::remove_file(path);
    }
    eprintln!("tokenmux: stopped");
    Ok(())
}

/// SIGHUP: reads the config again; unchanged sources keep their tokens.
/// A config with problems is refused and the running one kept.
fn reload(
    path: &Path,
    registry: &ArcSwap<Registry>,
    allowed: &AllowedUids,
    http: &reqwest::Client,
    permits: &Arc<Semaphore>,
) {
    let outcome = config_file::load_named(Some(path)).and_then(|(_, file)| {
        let built = Registry::build(&file.sources, &registry.load(), http, permits)?;
        Ok((file, built))
    });
    match outcome {
        Ok((file, (built, rebuilt))) => {
            let count = built.sources.len();
            registry.store(Arc::new(built));
            allowed.set(&file.agent.allowed_uids);
            eprintln!(
                "tokenmux: reloaded {}: {count} source(s), rebuilt: [{}]",
                path.display(),
                rebuilt.join(", ")
            );
        }
        Err(failure) => eprintln!(
            "tokenmux: reload refused, the running config stays: {}",
            failure.message
        ),
    }
}
