//! `tokenmux serve`: the flags of the agent (`tokenmux_agent`), which
//! does the work. Under systemd it takes the sockets of a `.socket` unit
//! (`LISTEN_FDS`) and reports readiness (`Type=notify`); see
//! `contrib/systemd/`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::Failure;

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
    /// The socket's mode, in octal (default 0600; `agent.socket_mode`).
    /// Other users still pass the uid check (`agent.allowed_uids`).
    #[arg(long)]
    socket_mode: Option<String>,
    /// The socket's group, by name or gid (`agent.socket_group`).
    #[arg(long)]
    socket_group: Option<String>,
    /// Serve /livez, /readyz, /healthz and /metrics, and nothing else,
    /// without the bearer on this loopback address (e.g. 127.0.0.1:9102),
    /// for probes and Prometheus. Tokens stay on the socket and --listen.
    #[arg(long, env = "TOKENMUX_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Allow --metrics-listen off loopback (e.g. 0.0.0.0:9102, for a
    /// kubelet's httpGet probes or a Prometheus on another host). Those
    /// routes carry no token and no secret.
    #[arg(long, requires = "metrics_listen")]
    metrics_public: bool,
    /// Tell systemd READY=1 at once rather than when every required source
    /// has its first token (`required: false` sources are never waited for).
    #[arg(long)]
    ready_immediately: bool,
}

/// Runs the agent with these flags.
pub(crate) async fn run(args: ServeArgs) -> Result<(), Failure> {
    let mut options = tokenmux_agent::ServeOptions::default();
    options.config = args.config;
    options.socket = args.socket;
    options.listen = args.listen;
    options.bearer_file = args.bearer_file;
    options.socket_mode = args.socket_mode;
    options.socket_group = args.socket_group;
    options.metrics_listen = args.metrics_listen;
    options.metrics_public = args.metrics_public;
    options.ready_immediately = args.ready_immediately;
    Ok(tokenmux_agent::run(options).await?)
}
