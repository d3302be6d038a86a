//! `tokenmux serve`: the flags of the agent (`tokenmux_agent`), which
//! does the work.

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
    Ok(tokenmux_agent::run(options).await?)
}
