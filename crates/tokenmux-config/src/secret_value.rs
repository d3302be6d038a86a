//! A value named in a config: given inline, by an environment variable
//! or by a file (a mounted secret). Messages name the variable or the
//! file only when it reads as one, never the value.

use std::path::{Path, PathBuf};

use tokenmux_wire::Secret;

/// Largest credential file read: a secret, not a document.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// One value from the one place it is given; `Err((key suffix, why))`.
pub(crate) fn value(
    inline: Option<Secret>,
    env: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<Option<Secret>, (&'static str, String)> {
    match (inline, env, file) {
        (None, None, None) => Ok(None),
        (Some(value), None, None) => Ok(Some(value)),
        (None, Some(variable), None) => env_value(variable).map(Some).map_err(|why| ("_env", why)),
        (None, None, Some(path)) => read_file(path).map(Some).map_err(|why| ("_file", why)),
        _ => Err((
            "",
            "give one of the value, `_env` and `_file`, not several".into(),
        )),
    }
}

/// The value of the environment variable `variable`, not empty. Its name
/// is shown only when it looks like one (a secret written where the name
/// belongs must not be printed).
fn env_value(variable: &str) -> Result<Secret, String> {
    let shown = shown_variable(variable);
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => Ok(value.into()),
        Ok(_) => Err(format!("the environment variable {shown} is empty")),
        Err(_) => Err(format!("the environment variable {shown} is not set")),
    }
}

/// `` `NAME` `` for a conventional variable name (capitals, digits, `_`),
/// else words that say why the name is not shown.
fn shown_variable(variable: &str) -> String {
    let conventional = (1..=64).contains(&variable.len())
        && variable
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && !variable.as_bytes()[0].is_ascii_digit();
    match conventional {
        true => format!("`{variable}`"),
        false => "(name not shown: it is not in capitals, digits and `_`; is a secret written \
                  where the variable's name belongs?)"
            .into(),
    }
}

/// Why the file shown as `shown` could not be read, without its content.
pub(crate) fn unreadable(error: tokenmux_store::FileReadError, shown: &str) -> String {
    match error {
        tokenmux_store::FileReadError::Io { source, .. } => {
            format!("cannot read {shown}: {source}")
        }
        tokenmux_store::FileReadError::NotRegular { kind, .. } => {
            format!("{shown} is not a regular file (a {kind})")
        }
        tokenmux_store::FileReadError::TooLarge { max, .. } => {
            format!("{shown} is larger than {max} bytes")
        }
        // A kind added later: its message would show the path unchecked.
        _ => format!("cannot read {shown}"),
    }
}

/// A credential file's path for a message: shown when it reads as a path
/// (absolute, or `./`, `../`, `~/`), else not (it may be a secret).
pub(crate) fn shown_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    let path_like = ["/", "./", "../", "~/"].iter().any(|p| text.starts_with(p))
        && !text.chars().any(char::is_whitespace);
    match path_like {
        true => tokenmux_wire::scrub::neutralise_controls(&text),
        false => "(path not shown: it is not absolute nor ./-relative; is a secret written \
                  where the file's path belongs?)"
            .into(),
    }
}

/// A credential file's content, one trailing newline dropped. The
/// message names the file, never its content. A file others may read is
/// used, with a warning (ssh refuses such keys outright; a mounted
/// Kubernetes Secret is 0644 by default).
fn read_file(path: &Path) -> Result<Secret, String> {
    use std::os::unix::fs::MetadataExt as _;
    let shown = shown_path(path);
    let (bytes, meta) =
        tokenmux_store::read_bounded(path, MAX_FILE_BYTES).map_err(|e| unreadable(e, &shown))?;
    let mode = meta.mode();
    if mode & 0o004 != 0 {
        tracing::warn!(
            file = %shown,
            mode = format_args!("{:o}", mode & 0o777),
            "a credential file is readable by every user; make it 0600 (chmod 600)"
        );
    }
    let mut text = String::from_utf8(bytes).map_err(|_| format!("{shown} is not UTF-8 text"))?;
    for ending in ["\r\n", "\n"] {
        if text.ends_with(ending) {
            text.truncate(text.len() - ending.len());
            break;
        }
    }
    if text.is_empty() {
        return Err(format!("{shown} is empty"));
    }
    Ok(text.into())
}

/// The key in the environment variable `variable` (base64, 32 bytes).
pub(crate) fn encryption_key_from_env(
    variable: &str,
) -> Result<tokenmux_store::EncryptionKey, tokenmux::Error> {
    let value = env_value(variable)
        .map_err(|why| tokenmux::ConfigError::new("store.encryption_key_env", why))?;
    tokenmux_store::EncryptionKey::from_base64(value.expose_secret()).map_err(|e| {
        tokenmux::ConfigError::new("store.encryption_key_env", format!("{variable}: {e}")).into()
    })
}
