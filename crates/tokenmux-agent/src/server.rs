//! The server: starts the listeners, keeps the registry of sources,
//! reloads on SIGHUP and drains on SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::{TcpListener, UnixListener};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Semaphore, watch};

use tokenmux_config::{AgentSettings, load_named};

use crate::AgentError;
use crate::access::{AllowedUids, Bearer};
use crate::registry::{self, Keeping, Registry};
use crate::routes::AgentState;
use crate::{access, listener, routes};

/// How long SIGTERM waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What the agent serves, and where; every field is optional.
///
/// ```no_run
/// # async fn example() -> Result<(), tokenmux_agent::AgentError> {
/// let mut options = tokenmux_agent::ServeOptions::default();
/// options.config = Some("/etc/tokenmux/config.yaml".into());
/// options.listen = Some("127.0.0.1:7878".parse().unwrap());
/// tokenmux_agent::run(options).await // until SIGTERM or SIGINT
/// # }
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ServeOptions {
    /// The config file with `sources:` (default: `TOKENMUX_CONFIG`, else
    /// the user's config directory).
    pub config: Option<PathBuf>,
    /// The Unix socket to serve on (default: [`default_socket`]).
    pub socket: Option<PathBuf>,
    /// Also serve on this loopback address, behind a bearer written to
    /// `bearer_file`.
    pub listen: Option<SocketAddr>,
    /// Where the TCP listener's bearer is written, mode 0600 (default:
    /// `agent.bearer` beside the socket).
    pub bearer_file: Option<PathBuf>,
    /// The socket's mode, in octal (default 0600; the file's
    /// `agent.socket_mode`).
    pub socket_mode: Option<String>,
    /// The socket's group, by name or gid (the file's `agent.socket_group`).
    pub socket_group: Option<String>,
}

/// `$XDG_RUNTIME_DIR/tokenmux/agent.sock`, else a directory of this user's
/// own in the temporary directory. The directory is made 0700.
pub fn default_socket() -> PathBuf {
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
pub fn trusted_default_socket() -> Option<PathBuf> {
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
fn private_dir(dir: &Path) -> Result<(), AgentError> {
    use std::os::unix::fs::DirBuilderExt as _;
    let shown = dir.display();
    if let Err(e) = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        return Err(AgentError::config(format!("cannot create {shown}: {e}")));
    }
    if !is_private_dir(dir) {
        return Err(AgentError::config(format!(
            "{shown} must be a directory of this user's, closed to others (mode 0700)"
        )));
    }
    Ok(())
}

/// Binds the socket: a stale one (nobody answering) is replaced; a live
/// agent's is not. Born 0600, then given `access`'s mode and group.
async fn bind_socket(path: &Path, access: &SocketAccess) -> Result<UnixListener, AgentError> {
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
    let shown = path.display();
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(AgentError::config(format!(
                "{shown} exists and is not a socket"
            )));
        }
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return Err(AgentError::config(format!(
                "an agent already serves on {shown}"
            )));
        }
        std::fs::remove_file(path)
            .map_err(|e| AgentError::config(format!("cannot replace {shown}: {e}")))?;
    }
    // Born 0600: no moment in which another user could connect. (The
    // umask is the process's; for this instant, files made by other
    // threads are only made more private.)
    let previous = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
    let bound = UnixListener::bind(path);
    rustix::process::umask(previous);
    let listener =
        bound.map_err(|e| AgentError::config(format!("cannot listen on {shown}: {e}")))?;
    // The group first, then the mode that opens it to the group.
    if let Some(gid) = access.group {
        rustix::fs::chown(path, None, Some(rustix::fs::Gid::from_raw(gid)))
            .map_err(|e| AgentError::config(format!("cannot give {shown} to group {gid}: {e}")))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(access.mode))
        .map_err(|e| AgentError::config(format!("cannot make {shown} {:04o}: {e}", access.mode)))?;
    Ok(listener)
}

/// Who the socket's file admits: its mode and group.
struct SocketAccess {
    mode: u32,
    group: Option<u32>,
}

impl SocketAccess {
    /// From the flags, else the config file's `agent:`.
    fn new(args: &ServeOptions, settings: &AgentSettings) -> Result<Self, AgentError> {
        let mode = match args.socket_mode.as_ref().or(settings.socket_mode.as_ref()) {
            None => 0o600,
            Some(text) => parse_mode(text)?,
        };
        let group = match args
            .socket_group
            .as_ref()
            .or(settings.socket_group.as_ref())
        {
            None => None,
            Some(group) => Some(group_id(group)?),
        };
        if mode & 0o070 != 0 && group.is_none() {
            tracing::warn!(
                "agent.socket_mode opens the socket to its group, and no socket_group is given: \
                 the group is the agent's own"
            );
        }
        Ok(Self { mode, group })
    }
}

/// An octal mode such as `0660`: the owner reads and writes; others never
/// write where the group may not.
fn parse_mode(text: &str) -> Result<u32, AgentError> {
    let digits = text.trim().trim_start_matches("0o");
    let mode = u32::from_str_radix(digits, 8)
        .ok()
        .filter(|mode| *mode <= 0o777 && mode & 0o600 == 0o600)
        .ok_or_else(|| {
            AgentError::config(format!(
                "agent.socket_mode `{}` is not an octal mode from 0600 to 0777 giving the owner read and write",
                tokenmux::neutralise_controls(text)
            ))
        })?;
    Ok(mode)
}

/// A group's id, from its name or number.
fn group_id(group: &str) -> Result<u32, AgentError> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    match nix::unistd::Group::from_name(group) {
        Ok(Some(found)) => Ok(found.gid.as_raw()),
        _ => Err(AgentError::config(format!(
            "agent.socket_group: no group named `{}`",
            tokenmux::neutralise_controls(group)
        ))),
    }
}

/// What the agent made at start: removed when it stops, and when it fails
/// to start, so that a failed start leaves nothing behind.
#[derive(Default)]
struct Made(Vec<PathBuf>);

impl Drop for Made {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Runs the agent until SIGTERM or SIGINT: keeps every named source of
/// the config file fresh and serves their tokens over the Unix socket
/// (mode 0600, peers checked by uid) and, when asked, loopback TCP behind
/// a bearer. SIGHUP reloads the file; unchanged sources keep their tokens.
pub async fn run(args: ServeOptions) -> Result<(), AgentError> {
    if let Some(address) = args.listen.filter(|a| !a.ip().is_loopback()) {
        return Err(AgentError::config(format!(
            "--listen {address} is not a loopback address: the agent serves this host only"
        )));
    }
    let (config_path, mut file, identity) =
        load_named(args.config.as_deref()).map_err(|e| AgentError::config(e.to_string()))?;
    let access = SocketAccess::new(&args, &file.agent)?;
    let keeping = Keeping {
        permits: Arc::new(Semaphore::new(registry::CONCURRENT_REFRESHES)),
        after_rejection: after_rejection(&file.agent)?,
    };
    let fd_limit = listener::raise_fd_limit();
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
        .map_err(|e| AgentError::config(format!("metrics: {e}")))?
        .build_recorder();
    let metrics = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|_| AgentError::config("a metrics recorder is installed already"))?;

    let http = registry::http_client()?;
    let (mut built, _) = Registry::build(&file.sources, &Registry::default(), &http, &keeping)?;
    built.config = Some(identity);
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
    let mut made = Made::default();
    let unix = bind_socket(&socket, &access).await?;
    made.0.push(socket.clone());
    let allowed = AllowedUids::default();
    allowed.set(&file.agent.allowed_uids);
    let unix_app = routes::router(state.clone()).layer(axum::middleware::from_fn_with_state(
        allowed.clone(),
        access::check_peer,
    ));
    let listeners = if args.listen.is_some() { 2 } else { 1 };
    let cap = listener::connection_cap(fd_limit, listeners);

    let (stop, stopped) = watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    if let Some(address) = args.listen {
        let path = match args.bearer_file {
            Some(path) => path,
            None => socket.with_file_name("agent.bearer"),
        };
        let bearer = Bearer::random();
        bearer
            .write_to(&path)
            .map_err(|e| AgentError::config(format!("cannot write {}: {e}", path.display())))?;
        made.0.push(path.clone());
        let tcp = TcpListener::bind(address)
            .await
            .map_err(|e| AgentError::config(format!("cannot listen on {address}: {e}")))?;
        let local = tcp
            .local_addr()
            .map_err(|e| AgentError::config(e.to_string()))?;
        let tcp_app = routes::router(state.clone()).layer(axum::middleware::from_fn_with_state(
            bearer,
            access::check_bearer,
        ));
        servers.spawn(listener::serve(tcp, tcp_app, cap, stopped.clone()));
        eprintln!(
            "tokenmux: serving on http://{local} (bearer in {})",
            path.display()
        );
    }
    let mut hangup = signal(SignalKind::hangup()).map_err(|e| AgentError::config(e.to_string()))?;
    let mut terminate =
        signal(SignalKind::terminate()).map_err(|e| AgentError::config(e.to_string()))?;
    let mut interrupt =
        signal(SignalKind::interrupt()).map_err(|e| AgentError::config(e.to_string()))?;
    servers.spawn(listener::serve(unix, unix_app, cap, stopped.clone()));
    eprintln!(
        "tokenmux: serving {} source(s) on {} (at most {cap} connections a listener)",
        registry.load().sources.len(),
        socket.display()
    );

    let reloader = Reloader {
        path: config_path,
        registry: Arc::clone(&registry),
        allowed,
        http,
        keeping,
    };
    let mut reloading: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        tokio::select! {
            _ = hangup.recv() => {
                if reloading.as_ref().is_some_and(|task| !task.is_finished()) {
                    eprintln!("tokenmux: a reload is still running; SIGHUP ignored");
                    continue;
                }
                reloading = Some(tokio::spawn(reloader.clone().reload()));
            }
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
    drop(made);
    eprintln!("tokenmux: stopped");
    Ok(())
}

/// `agent.retry_rejected_after`, at least a minute; default an hour.
fn after_rejection(settings: &AgentSettings) -> Result<Duration, AgentError> {
    match settings.retry_rejected_after {
        None => Ok(Duration::from_secs(3600)),
        Some(after) if after >= Duration::from_secs(60) => Ok(after),
        Some(_) => Err(AgentError::config(
            "agent.retry_rejected_after is at least 1m: each retry is a failed login",
        )),
    }
}

/// How long a reload may take before it is abandoned (the running config
/// keeps serving).
const RELOAD_TIMEOUT: Duration = Duration::from_secs(5);

/// What SIGHUP needs.
#[derive(Clone)]
struct Reloader {
    path: PathBuf,
    registry: Arc<ArcSwap<Registry>>,
    allowed: AllowedUids,
    http: reqwest::Client,
    keeping: Keeping,
}

impl Reloader {
    /// Reads the config again, off the signal loop and within
    /// RELOAD_TIMEOUT; unchanged sources keep their tokens. A config with
    /// problems, or one that cannot be read in time, is refused and the
    /// running one kept.
    async fn reload(self) {
        let path = self.path.clone();
        let registry = Arc::clone(&self.registry);
        let (http, keeping) = (self.http.clone(), self.keeping.clone());
        let runtime = tokio::runtime::Handle::current();
        let work = tokio::task::spawn_blocking(move || {
            let _entered = runtime.enter();
            let loaded = load_named(Some(&path)).map_err(|e| AgentError::config(e.to_string()));
            loaded.and_then(|(_, file, identity)| {
                let (mut built, rebuilt) =
                    Registry::build(&file.sources, &registry.load(), &http, &keeping)?;
                built.config = Some(identity);
                Ok((file, built, rebuilt))
            })
        });
        let shown = self.path.display();
        match tokio::time::timeout(RELOAD_TIMEOUT, work).await {
            Ok(Ok(Ok((file, built, rebuilt)))) => {
                let count = built.sources.len();
                self.registry.store(Arc::new(built));
                self.allowed.set(&file.agent.allowed_uids);
                eprintln!(
                    "tokenmux: reloaded {shown}: {count} source(s), rebuilt: [{}]",
                    rebuilt.join(", ")
                );
            }
            Ok(Ok(Err(failure))) => {
                eprintln!("tokenmux: reload refused, the running config stays: {failure}")
            }
            Ok(Err(_)) => eprintln!("tokenmux: reload failed, the running config stays"),
            Err(_) => eprintln!(
                "tokenmux: reload abandoned after {RELOAD_TIMEOUT:?} (a file that does not \
                 answer?), the running config stays"
            ),
        }
    }
}
