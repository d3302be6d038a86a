//! `tokenmux exec`: runs a command with tokens in its environment (as
//! `aws-vault exec` or `envconsul` do), forwards the signals it gets to
//! the command, and exits with the command's code. Each token is obtained
//! as `tokenmux token NAME` obtains it (from the agent, else the config
//! file's source in this process). With `--restart-on-refresh` the command
//! is restarted with the new token when one changes; with
//! `--signal-on-refresh SIG` it is sent SIG instead (for a command that
//! reads its token elsewhere, such as a sink file).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, SystemTime};

use clap::{Args, FromArgMatches as _, ValueEnum};
use rustix::process::{Pid, Signal};
use tokio::process::{Child, Command};
use tokio::signal::unix::{SignalKind, signal};

use crate::Failure;
use crate::token::{self, Obtained, TokenArgs};

/// Options of `tokenmux exec`.
#[derive(Args)]
pub(crate) struct ExecArgs {
    /// A named source whose token goes in `<NAME>_TOKEN` (upper case, `-`
    /// and `.` as `_`: `partner-a` in PARTNER_A_TOKEN). Repeatable.
    #[arg(long = "source", value_name = "NAME")]
    sources: Vec<String>,
    /// Put source NAME's token in the variable VAR. Repeatable.
    #[arg(long = "env", value_name = "VAR=NAME", value_parser = variable_and_source)]
    variables: Vec<(String, String)>,
    /// What each variable holds.
    #[arg(long, value_enum, default_value = "raw")]
    format: ExecFormat,
    /// The config file with `sources:` (default: $TOKENMUX_CONFIG, else
    /// the user's config directory).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The agent's socket (default: $TOKENMUX_AGENT_SOCKET, else the
    /// user's runtime directory).
    #[arg(long, env = "TOKENMUX_AGENT_SOCKET")]
    socket: Option<PathBuf>,
    /// Also trust an agent run by this uid.
    #[arg(long, env = "TOKENMUX_AGENT_UID")]
    agent_uid: Option<u32>,
    /// Do not ask a running agent; build the sources in this process.
    #[arg(long)]
    no_agent: bool,
    /// When a token changes (a refresh), stop the command (SIGTERM, then
    /// SIGKILL after 10 s) and start it again with the new token.
    #[arg(long, conflicts_with = "signal_on_refresh")]
    restart_on_refresh: bool,
    /// When a token changes, send the command this signal (HUP, USR1, …):
    /// for a command that reads its token elsewhere (a sink file, the agent).
    #[arg(long, value_name = "SIGNAL", value_parser = signal_name)]
    signal_on_refresh: Option<Signal>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExecFormat {
    /// The token alone.
    Raw,
    /// The header's value, `Bearer <token>` (or the spec's presentation).
    Header,
}

/// `VAR=NAME`, VAR a portable variable name.
fn variable_and_source(arg: &str) -> Result<(String, String), String> {
    let (variable, source) = arg
        .split_once('=')
        .ok_or("expected VAR=NAME, e.g. --env API_TOKEN=partner-a")?;
    let portable = !variable.is_empty()
        && !variable.starts_with(|c: char| c.is_ascii_digit())
        && variable
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !portable || source.is_empty() {
        return Err(
            "expected VAR=NAME, VAR letters, digits and `_`, e.g. API_TOKEN=partner-a".into(),
        );
    }
    Ok((variable.to_owned(), source.to_owned()))
}

/// A signal by name (`HUP`, `SIGHUP`, `usr1`).
fn signal_name(arg: &str) -> Result<Signal, String> {
    let name = arg.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    Ok(match name {
        "HUP" => Signal::HUP,
        "INT" => Signal::INT,
        "QUIT" => Signal::QUIT,
        "TERM" => Signal::TERM,
        "USR1" => Signal::USR1,
        "USR2" => Signal::USR2,
        _ => return Err("expected HUP, INT, QUIT, TERM, USR1 or USR2".into()),
    })
}

/// The variable a `--source NAME` fills.
fn default_variable(source: &str) -> String {
    let upper: String = source
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() {
            true => c.to_ascii_uppercase(),
            false => '_',
        })
        .collect();
    format!("{upper}_TOKEN")
}

/// Signals passed on to the command.
const FORWARDED: [(SignalKind, Signal); 6] = [
    (SignalKind::hangup(), Signal::HUP),
    (SignalKind::interrupt(), Signal::INT),
    (SignalKind::quit(), Signal::QUIT),
    (SignalKind::terminate(), Signal::TERM),
    (SignalKind::user_defined1(), Signal::USR1),
    (SignalKind::user_defined2(), Signal::USR2),
];

/// How long a restarted command has to stop before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the command; its exit code (128 + the signal that ended it).
pub(crate) async fn run(args: ExecArgs) -> Result<u8, Failure> {
    let variables = variables(&args)?;
    let mut tokens = obtain_all(&args, &variables).await?;
    // Each forwarded signal, as it arrives, in one channel.
    let (arrived, mut signals) = tokio::sync::mpsc::unbounded_channel();
    for (kind, sent) in FORWARDED {
        let mut stream = signal(kind).map_err(|e| Failure::usage(format!("signals: {e}")))?;
        let arrived = arrived.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() && arrived.send(sent).is_ok() {}
        });
    }
    let watching = args.restart_on_refresh || args.signal_on_refresh.is_some();
    let mut child = spawn(&args, &tokens)?;
    loop {
        let next_check = tokio::time::sleep(check_after(&tokens));
        tokio::select! {
            status = child.wait() => {
                let status = status.map_err(|e| Failure::usage(format!("waiting for the command: {e}")))?;
                return Ok(exit_code(status));
            }
            Some(sent) = signals.recv() => send(&child, sent),
            () = next_check, if watching => {
                let fresh = match obtain_all(&args, &variables).await {
                    Ok(fresh) => fresh,
                    Err(failure) => {
                        tracing::warn!("exec: cannot renew a token ({}); the command keeps the one it has", failure.message);
                        continue;
                    }
                };
                if fresh.values().map(|t| &t.secret).eq(tokens.values().map(|t| &t.secret)) {
                    tokens = fresh;
                    continue;
                }
                tokens = fresh;
                match args.signal_on_refresh {
                    Some(sent) => send(&child, sent),
                    None => {
                        stop(&mut child).await;
                        child = spawn(&args, &tokens)?;
                    }
                }
            }
        }
    }
}

/// Each variable and the source it holds, in a stable order; at least one.
fn variables(args: &ExecArgs) -> Result<BTreeMap<String, String>, Failure> {
    let mut variables = BTreeMap::new();
    let named = args
        .sources
        .iter()
        .map(|source| (default_variable(source), source.clone()));
    for (variable, source) in named.chain(args.variables.iter().cloned()) {
        if let Some(other) = variables.insert(variable.clone(), source.clone())
            && other != source
        {
            return Err(Failure::usage(format!(
                "{variable} would hold both `{other}` and `{source}`: give one with --env VAR=NAME"
            )));
        }
    }
    if variables.is_empty() {
        return Err(Failure::usage(
            "give the tokens to pass: --source NAME (in NAME_TOKEN) or --env VAR=NAME",
        ));
    }
    Ok(variables)
}

/// Each variable's token, obtained as `tokenmux token NAME` would.
async fn obtain_all(
    args: &ExecArgs,
    variables: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Obtained>, Failure> {
    let mut tokens = BTreeMap::new();
    for (variable, source) in variables {
        let token = token::obtain(&token_args(args, source)?).await?;
        tokens.insert(variable.clone(), token);
    }
    Ok(tokens)
}

/// The options of `tokenmux token NAME` that this command's stand for.
fn token_args(args: &ExecArgs, source: &str) -> Result<TokenArgs, Failure> {
    let mut argv: Vec<OsString> = vec!["token".into(), source.into()];
    if let Some(config) = &args.config {
        argv.extend(["--config".into(), config.into()]);
    }
    if let Some(socket) = &args.socket {
        argv.extend(["--socket".into(), socket.into()]);
    }
    if let Some(uid) = args.agent_uid {
        argv.extend(["--agent-uid".into(), uid.to_string().into()]);
    }
    if args.no_agent {
        argv.push("--no-agent".into());
    }
    let command = <TokenArgs as Args>::augment_args(clap::Command::new("token"));
    let matches = command
        .try_get_matches_from(argv)
        .map_err(|e| Failure::usage(e.to_string()))?;
    TokenArgs::from_arg_matches(&matches).map_err(|e| Failure::usage(e.to_string()))
}

/// Starts the command with the tokens in its environment.
fn spawn(args: &ExecArgs, tokens: &BTreeMap<String, Obtained>) -> Result<Child, Failure> {
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| Failure::usage("give the command after `--`"))?;
    let mut command = Command::new(program);
    command.args(rest);
    for (variable, token) in tokens {
        let value = match args.format {
            ExecFormat::Raw => &token.secret,
            ExecFormat::Header => &token.header_value,
        };
        command.env(variable, value);
    }
    command.spawn().map_err(|e| Failure {
        code: 127,
        message: format!("cannot run {}: {e}", program.to_string_lossy()),
    })
}

/// Sends `sent` to the command, if it still runs.
fn send(child: &Child, sent: Signal) {
    if let Some(pid) = child.id().and_then(|id| Pid::from_raw(id as i32)) {
        let _ = rustix::process::kill_process(pid, sent);
    }
}

/// Stops the command: SIGTERM, then SIGKILL after STOP_TIMEOUT.
async fn stop(child: &mut Child) {
    send(child, Signal::TERM);
    if tokio::time::timeout(STOP_TIMEOUT, child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

/// The command's exit code; 128 + the signal that ended it, as shells say.
fn exit_code(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(1),
        (None, None) => 1,
    }
}

/// When to look for new tokens: a quarter of the shortest lifetime left,
/// between 1 s and 30 s.
fn check_after(tokens: &BTreeMap<String, Obtained>) -> Duration {
    let now = SystemTime::now();
    tokens
        .values()
        .map(|t| t.expires_at.duration_since(now).unwrap_or_default() / 4)
        .min()
        .unwrap_or_default()
        .clamp(Duration::from_secs(1), Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_named_from_sources_and_checked() {
        assert_eq!(default_variable("partner-a"), "PARTNER_A_TOKEN");
        assert_eq!(default_variable("neon.eu"), "NEON_EU_TOKEN");
        assert!(variable_and_source("API_TOKEN=partner-a").is_ok());
        for wrong in ["API-TOKEN=a", "1X=a", "=a", "X=", "X"] {
            assert!(variable_and_source(wrong).is_err(), "{wrong}");
        }
        assert_eq!(signal_name("sighup"), Ok(Signal::HUP));
        assert!(signal_name("KILL").is_err());
    }

    #[test]
    fn a_signal_ends_in_128_plus_its_number() {
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 143);
    }
}
