//! `tokenmux`: print a valid access token from any supported provider (like
//! `gcloud auth print-access-token`), or run the mock token server.
//!
//! Exit codes: 0 ok; 2 usage or configuration error; 3 credentials
//! rejected; 4 transient failure after retries (rate limited, server,
//! network, timeout); 1 anything else (an invalid response).

mod config_file;
mod exec;
mod logging;
#[cfg(feature = "mock")]
mod mock;
mod redis_flags;
mod serve;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tokenmux",
    version,
    about = "Valid bearer tokens from token endpoints",
    after_help = "Exit codes: 0 ok; 2 usage or configuration error; 3 credentials rejected; \
                  4 transient failure after retries (rate limited, server, network, timeout); \
                  1 anything else (an invalid response). `exec` exits with its command's code."
)]
struct Cli {
    /// How stderr's log lines look: text (a UTC timestamp, the level, the
    /// message and its fields) or json (one object per line).
    #[arg(
        long,
        global = true,
        value_enum,
        env = "TOKENMUX_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: logging::LogFormat,
    /// What is logged: error, warn, info, debug or trace, or a tracing
    /// filter such as `tokenmux=debug,warn`. Default: warn (token, exec,
    /// config), info (serve, mock).
    #[arg(long, global = true, env = "TOKENMUX_LOG", value_name = "LEVEL")]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a valid token (from the cache when it is still fresh).
    Token(Box<token::TokenArgs>),
    /// Run a command with tokens in its environment; forward signals to it
    /// and exit with its code.
    Exec(Box<exec::ExecArgs>),
    /// Run the agent: keep every named source fresh and serve tokens over a
    /// Unix socket (and optionally loopback TCP).
    Serve(serve::ServeArgs),
    /// Run the mock token server for every provider on one port.
    #[cfg(feature = "mock")]
    Mock(mock::MockArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish,
    /// powershell): `source <(tokenmux completions bash)`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `tokenmux man | man -l -`.
    Man,
    /// Configuration file helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the JSON Schema of the configuration file (YAML or TOML).
    Schema,
    /// Check a config file: every problem, at its key, without secrets.
    Check {
        /// The file (default: $TOKENMUX_CONFIG, else the user's config directory).
        #[arg(long)]
        config: Option<std::path::PathBuf>,
    },
}

/// A failure, with the exit code it maps to.
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }
}

/// Prints a line to stdout. A closed pipe (`tokenmux … | head`) ends the
/// output quietly; `println!` would panic.
pub(crate) fn print_line(text: &str) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure {
            code: 1,
            message: format!("cannot write to stdout: {e}"),
        }),
    }
}

/// The exit code of an error of `kind` (none: not the library's): 2 to
/// fix the config, 3 the credentials, 4 to try again later, else 1. The
/// same whether the error happened here or in the agent.
pub(crate) fn exit_code(kind: Option<tokenmux::ErrorKind>) -> u8 {
    use tokenmux::ErrorKind::*;
    match kind {
        Some(Config) => 2,
        Some(Rejected) => 3,
        Some(Transient) => 4,
        _ => 1,
    }
}

impl From<tokenmux::Error> for Failure {
    fn from(error: tokenmux::Error) -> Self {
        let code = exit_code(Some(error.kind()));
        let mut message = error.to_string();
        if let Some(after) = error.retry_after() {
            let at = std::time::SystemTime::now() + after;
            let at = humantime::format_rfc3339_seconds(at);
            message.push_str(&match error {
                tokenmux::Error::BackingOff { .. } => {
                    format!(" (try again after {at}, or at once with `token --refresh`)")
                }
                _ => format!(" (the endpoint asks to wait: try again after {at})"),
            });
        }
        Self { code, message }
    }
}

impl From<tokenmux_agent::AgentError> for Failure {
    fn from(error: tokenmux_agent::AgentError) -> Self {
        Self {
            code: exit_code(error.kind()),
            message: error.message().to_owned(),
        }
    }
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    // A process that serves says what it does; a one-shot command only
    // what went wrong.
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        #[cfg(feature = "mock")]
        Command::Mock(_) => "info",
        _ => "warn",
    };
    let json = cli.log_format == logging::LogFormat::Json;
    if let Err(problem) = logging::init(cli.log_format, cli.log_level.as_deref(), default_level) {
        return fail(json, &Failure::usage(problem));
    }
    // A token a running agent serves needs no runtime: asked first.
    if let Command::Token(args) = &mut cli.command
        && let Some(outcome) = token::run_through_agent(args)
    {
        return exit(json, outcome);
    }
    // A one-shot command (most often a cached token) runs on the calling
    // thread: starting worker threads would cost more than its work.
    let runtime = match cli.command {
        Command::Serve(_) => tokio::runtime::Runtime::new(),
        #[cfg(feature = "mock")]
        Command::Mock(_) => tokio::runtime::Runtime::new(),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tokenmux: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Token(args) => token::run(*args).await,
            Command::Exec(args) => match exec::run(*args).await {
                Ok(0) => Ok(()),
                Ok(code) => Err(Failure {
                    code,
                    message: String::new(),
                }),
                Err(failure) => Err(failure),
            },
            Command::Serve(args) => serve::run(args).await,
            #[cfg(feature = "mock")]
            Command::Mock(args) => mock::run(args).await,
            Command::Completions { shell } => {
                let mut script = Vec::new();
                let mut command = <Cli as clap::CommandFactory>::command();
                clap_complete::generate(shell, &mut command, "tokenmux", &mut script);
                print_line(String::from_utf8_lossy(&script).trim_end())
            }
            Command::Man => {
                let mut page = Vec::new();
                clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
                    .render(&mut page)
                    .map_err(|e| Failure::usage(format!("cannot render the manual page: {e}")))?;
                print_line(String::from_utf8_lossy(&page).trim_end())
            }
            Command::Config { command } => match command {
                ConfigCommand::Schema => print_line(&config_file::schema()),
                ConfigCommand::Check { config } => config_file::check(config.as_deref()),
            },
        }
    });
    // A blocking read still running (a reload abandoned) must not hold
    // the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    exit(json, outcome)
}

/// The exit code of `outcome`, a failure said on stderr.
fn exit(json: bool, outcome: Result<(), Failure>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => fail(json, &failure),
    }
}

/// Says why the command failed, in one line with no secret (errors never
/// carry one), and gives its exit code. With JSON logs the line is a log
/// event too, so that stderr stays JSON. (`exec`'s command's own exit code
/// comes with no message.)
fn fail(json: bool, failure: &Failure) -> ExitCode {
    match (failure.message.is_empty(), json) {
        (true, _) => {}
        (false, false) => eprintln!("tokenmux: {}", failure.message),
        (false, true) => tracing::error!(exit_code = failure.code, "{}", failure.message),
    }
    ExitCode::from(failure.code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenmux::ErrorKind;
    use tokenmux_agent::AgentError;

    /// A DPoP nonce is opaque: one that begins with `-` is a value, not an
    /// option (the end-to-end DPoP test drew such a nonce once).
    #[test]
    fn a_dpop_nonce_may_begin_with_a_hyphen() {
        let parsed = Cli::try_parse_from([
            "tokenmux",
            "token",
            "--dpop",
            "--dpop-proof",
            "GET",
            "https://api.example/",
            "--dpop-nonce",
            "-aB3_x",
        ]);
        assert!(parsed.is_ok(), "{:?}", parsed.err());
    }

    /// The same for a secret, where clap's "unexpected argument" error
    /// would also print it.
    #[test]
    fn a_secret_may_begin_with_a_hyphen_and_is_never_echoed() {
        for flag in ["--client-secret", "--password"] {
            let parsed = Cli::try_parse_from(["tokenmux", "token", flag, "-s3cr3t-value"]);
            if let Err(error) = &parsed {
                assert!(!error.to_string().contains("s3cr3t"), "{flag}: {error}");
            }
            assert!(parsed.is_ok(), "{flag}");
        }
    }

    #[test]
    fn an_agents_failure_exits_as_the_same_failure_here_would() {
        for (kind, code) in [
            (Some(ErrorKind::Config), 2),
            (Some(ErrorKind::Rejected), 3),
            (Some(ErrorKind::Transient), 4),
            (Some(ErrorKind::Endpoint), 1),
            (Some(ErrorKind::Store), 1),
            (None, 1),
        ] {
            let failure = Failure::from(AgentError::new(kind, "m"));
            assert_eq!((failure.code, failure.message.as_str()), (code, "m"));
            assert_eq!(exit_code(kind), code);
        }
        let config = tokenmux::Error::from(tokenmux::ConfigError::new("base_url", "missing"));
        assert_eq!(Failure::from(config).code, 2);
    }
}
