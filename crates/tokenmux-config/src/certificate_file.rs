//! Certificate files: a CA bundle to trust (`ca_file`) and a client
//! certificate chain (`client_cert_file`). They hold no secret, so they
//! may be readable by everyone; like every file the config names, each is
//! read bounded and never from a FIFO.

use std::path::{Path, PathBuf};

use tokenmux::{CertificateError, ClientCertificate};

use crate::secret_value::{shown_path, unreadable, value};

/// Largest certificate file read: a system CA bundle is about 200 KiB.
const MAX_CERTIFICATE_BYTES: u64 = 1024 * 1024;

/// The file's bytes; `Err(why)` without its content.
pub(crate) fn read_public(path: &Path) -> Result<Vec<u8>, String> {
    let shown = shown_path(path);
    tokenmux_store::read_bounded(path, MAX_CERTIFICATE_BYTES)
        .map(|(bytes, _)| bytes)
        .map_err(|e| unreadable(e, &shown))
}

/// The CA certificates in the PEM bundle at `path`, at least one.
pub(crate) fn ca_certificates(path: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let bytes = read_public(path)?;
    let shown = shown_path(path);
    match reqwest::Certificate::from_pem_bundle(&bytes) {
        Ok(certificates) if !certificates.is_empty() => Ok(certificates),
        Ok(_) | Err(_) => Err(format!(
            "{shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        )),
    }
}

/// Which of a client certificate's two files is wrong, and why (never
/// quoting either).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateFileProblem {
    /// The certificate chain's file.
    #[error("{0}")]
    Chain(String),
    /// The private key's file.
    #[error("{0}")]
    Key(String),
}

/// The client certificate whose chain (PEM, leaf first) is in `chain` and
/// whose key (PEM) is in `key`: the one reading of `client_cert_file` and
/// `client_key_file` in a config file and of `--client-cert` and
/// `--client-key`. The key is read as a secret (a warning when everyone
/// may read it); the chain is not one.
///
/// ```
/// use std::path::Path;
/// use tokenmux_config::{CertificateFileProblem, read_client_certificate};
///
/// let data = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tokenmux/tests/data"));
/// let certificate =
///     read_client_certificate(&data.join("client.pem"), &data.join("client.key")).unwrap();
/// assert_eq!(certificate.thumbprint().len(), 43);
/// let swapped = read_client_certificate(&data.join("client.key"), &data.join("client.pem"));
/// assert!(matches!(swapped, Err(CertificateFileProblem::Chain(_))));
/// ```
pub fn read_client_certificate(
    chain: &Path,
    key: &Path,
) -> Result<ClientCertificate, CertificateFileProblem> {
    let chain = read_public(chain).map_err(CertificateFileProblem::Chain)?;
    let key = value(None, &None, &Some(PathBuf::from(key)))
        .map_err(|(_, why)| CertificateFileProblem::Key(why))?
        .ok_or_else(|| CertificateFileProblem::Key("no key".into()))?;
    ClientCertificate::from_pem(&chain, key.expose_secret().as_bytes()).map_err(|problem| {
        match problem {
            CertificateError::NoKey => CertificateFileProblem::Key(problem.to_string()),
            _ => CertificateFileProblem::Chain(problem.to_string()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_is_read_and_anything_else_is_named_without_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let ca = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tokenmux/tests/data/test-ca.pem"
        );
        assert_eq!(ca_certificates(Path::new(ca)).unwrap().len(), 1);
        let secret = dir.path().join("not-a-ca");
        std::fs::write(&secret, "hunter2").unwrap();
        let why = ca_certificates(&secret).unwrap_err();
        assert!(why.ends_with("holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
        assert!(!why.contains("hunter2"), "{why}");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        assert!(
            ca_certificates(&fifo)
                .unwrap_err()
                .contains("not a regular file")
        );
    }
}
