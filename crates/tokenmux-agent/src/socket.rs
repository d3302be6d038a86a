//! The agent's Unix socket: where it is by default, the private
//! directory it lives in, and binding it with its mode and group (unless
//! systemd made it and passed it in).

use std::path::{Path, PathBuf};

use tokio::net::UnixListener;

use tokenmux_config::AgentSettings;

use crate::AgentError;

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
pub(crate) fn private_dir(dir: &Path) -> Result<(), AgentError> {
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
pub(crate) async fn bind_socket(
    path: &Path,
    access: &SocketAccess,
) -> Result<UnixListener, AgentError> {
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
pub(crate) struct SocketAccess {
    mode: u32,
    group: Option<u32>,
}

impl SocketAccess {
    /// From the flag's mode and group, else the config file's `agent:`.
    pub(crate) fn new(
        mode: Option<&str>,
        group: Option<&str>,
        settings: &AgentSettings,
    ) -> Result<Self, AgentError> {
        let mode = match mode.or(settings.socket_mode.as_deref()) {
            None => 0o600,
            Some(text) => parse_mode(text)?,
        };
        let group = match group.or(settings.socket_group.as_deref()) {
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
