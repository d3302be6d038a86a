//! A certificate authority made for one run, and the server and client
//! certificates it issues, as PEM files in a temporary directory.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// A CA, a server certificate for `localhost` and 127.0.0.1, and a client
/// certificate, all issued now; and an unrelated CA, trusted by nobody.
pub struct TestPki {
    dir: tempfile::TempDir,
}

impl TestPki {
    /// Makes the files.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir for certificates");
        let write = |name: &str, pem: String| std::fs::write(dir.path().join(name), pem).unwrap();
        let (ca, ca_key) = authority("tokenmux test CA");
        write("ca.pem", ca.pem());
        let issuer = Issuer::new(ca_params("tokenmux test CA"), ca_key);
        for (name, subject_alt_names) in [
            (
                "server",
                vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
            ),
            ("client", vec!["tokenmux-client".to_owned()]),
        ] {
            let key = KeyPair::generate().unwrap();
            let params = CertificateParams::new(subject_alt_names).unwrap();
            let cert = params.signed_by(&key, &issuer).unwrap();
            write(&format!("{name}.pem"), cert.pem());
            write(&format!("{name}.key"), key.serialize_pem());
        }
        let (other, _) = authority("someone else's CA");
        write("other-ca.pem", other.pem());
        Self { dir }
    }

    /// The CA certificate (PEM) to trust.
    pub fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// A CA certificate that issued none of these.
    pub fn other_ca(&self) -> PathBuf {
        self.path("other-ca.pem")
    }

    /// The server's certificate and key.
    pub fn server(&self) -> (PathBuf, PathBuf) {
        (self.path("server.pem"), self.path("server.key"))
    }

    /// The client's certificate and key (mutual TLS).
    pub fn client(&self) -> (PathBuf, PathBuf) {
        (self.path("client.pem"), self.path("client.key"))
    }

    /// The directory holding every file.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Default for TestPki {
    fn default() -> Self {
        Self::new()
    }
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params
}

fn authority(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let cert = ca_params(name).self_signed(&key).unwrap();
    (cert, key)
}
