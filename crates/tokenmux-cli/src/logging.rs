//! What the CLI logs on stderr, in one format: text lines with a UTC
//! timestamp and a level, or one JSON object per line (tracing-subscriber's
//! JSON layer) with `--log-format json`. The level is `--log-level` or
//! `TOKENMUX_LOG` (`warn` for `token` and `exec`, `info` for `serve` and
//! `mock`); either takes a tracing filter (`tokenmux=debug,warn`). The
//! library logs no secret.

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// `--log-format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// `2026-12-05T10:00:00.000000Z  WARN message key=value`.
    #[default]
    Text,
    /// `{"timestamp", "level", "fields": {"message", …}, "span": {…}}`,
    /// one object per line.
    Json,
}

/// Installs the subscriber; a filter that does not parse is an error that
/// says so (the default level is used meanwhile).
pub(crate) fn init(format: LogFormat, level: Option<&str>, default: &str) -> Result<(), String> {
    let (filter, problem) = match level.map(EnvFilter::try_new) {
        None => (EnvFilter::new(default), None),
        Some(Ok(filter)) => (filter, None),
        Some(Err(error)) => (
            EnvFilter::new(default),
            Some(format!(
                "--log-level (TOKENMUX_LOG): not a level or filter ({error}); give error, \
                 warn, info, debug or trace"
            )),
        ),
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_env_filter(filter);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    match problem {
        Some(problem) => Err(problem),
        None => Ok(()),
    }
}
