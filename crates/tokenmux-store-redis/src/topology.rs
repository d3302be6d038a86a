//! Where the Redis store's data lives (one node, a cluster's seed nodes, or
//! the master a set of sentinels names) and the TLS material to reach it.

use std::path::Path;

use redis::cluster::ClusterClient;
use redis::io::tcp::TcpSettings;
use redis::{IntoConnectionInfo as _, RedisConnectionInfo};
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use super::dial::Endpoint;
use super::sentinel::Sentinels;
use tokenmux_store::StoreError;

/// How the store finds its Redis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Topology {
    /// One server (which may be a replicated master behind a fixed name).
    Single,
    /// A Redis Cluster, reached through any of its seed nodes.
    Cluster,
    /// The master that sentinels name `master`, found again after a failover.
    Sentinel {
        /// The master's name in the sentinels' configuration.
        master: String,
    },
}

/// The URLs (which may hold a password: never printed), what may be
/// printed of them, and the TLS material.
#[derive(Clone)]
pub(super) struct Target {
    pub(super) topology: Topology,
    urls: Vec<String>,
    /// `redis://host:port/db[, …]`, without credentials, for messages.
    pub(super) address: String,
    /// Strings that must not appear in messages (the URLs' passwords).
    pub(super) hidden: Vec<String>,
    tls: bool,
    /// Every host is this machine (loopback or a unix socket).
    pub(super) local: bool,
    ca: Option<Vec<u8>>,
    identity: Option<Identity>,
}

/// A client certificate chain and its key, as PEM.
#[derive(Clone)]
struct Identity {
    chain: Vec<u8>,
    key: Vec<u8>,
}

impl Identity {
    fn parse(&self) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), StoreError> {
        let unusable = || StoreError::config("the client certificate or key is not PEM");
        let chain = CertificateDer::pem_slice_iter(&self.chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| unusable())?;
        if chain.is_empty() {
            return Err(unusable());
        }
        let key = PrivateKeyDer::from_pem_slice(&self.key).map_err(|_| unusable())?;
        Ok((chain, key))
    }
}

impl Target {
    pub(super) fn new(topology: Topology, urls: &[&str]) -> Result<Self, StoreError> {
        if urls.is_empty() {
            return Err(StoreError::config("no Redis URL given"));
        }
        let mut addresses = Vec::new();
        let (mut hidden, mut local, mut tls) = (Vec::new(), true, Vec::new());
        for url in urls {
            let described = describe(url)?;
            addresses.push(described.address);
            hidden.extend(described.hidden);
            local &= described.local;
            tls.push(described.tls);
        }
        if tls.iter().any(|t| *t != tls[0]) {
            return Err(StoreError::config(
                "mixed redis:// and rediss:// URLs: use one scheme for every node",
            ));
        }
        if topology != Topology::Single && addresses.iter().any(|a| a.starts_with("redis+unix")) {
            return Err(StoreError::config(
                "cluster and sentinel nodes are reached over TCP, not a unix socket",
            ));
        }
        Ok(Self {
            topology,
            urls: urls.iter().map(|u| (*u).to_owned()).collect(),
            address: addresses.join(", "),
            hidden,
            tls: tls[0],
            local,
            ca: None,
            identity: None,
        })
    }

    /// Trusts the certificates in the PEM file at `path` instead of the
    /// system's roots.
    pub(super) fn set_ca_file(&mut self, path: &Path) -> Result<(), StoreError> {
        self.require_tls("a CA file")?;
        let pem = read_pem(path, "CA file")?;
        if !pem.windows(11).any(|w| w == b"CERTIFICATE") {
            return Err(StoreError::config(format!(
                "the CA file {} holds no PEM certificate",
                path.display()
            )));
        }
        self.ca = Some(pem);
        Ok(())
    }

    /// Presents the certificate chain and key in these PEM files (mutual TLS).
    pub(super) fn set_client_identity(
        &mut self,
        certificate: &Path,
        key: &Path,
    ) -> Result<(), StoreError> {
        self.require_tls("a client certificate")?;
        let identity = Identity {
            chain: read_pem(certificate, "client certificate")?,
            key: read_pem(key, "client key")?,
        };
        // Checked now, so that a wrong file is a configuration error and
        // not a connection that fails on every call.
        identity.parse().map_err(|_| {
            StoreError::config(format!(
                "{} and {} are not a PEM certificate chain and its private key",
                certificate.display(),
                key.display()
            ))
        })?;
        self.identity = Some(identity);
        Ok(())
    }

    fn require_tls(&self, what: &str) -> Result<(), StoreError> {
        match self.tls {
            true => Ok(()),
            false => Err(StoreError::config(format!(
                "{what} is for TLS: use a rediss:// URL ({})",
                self.address
            ))),
        }
    }

    /// Whether the URLs and TLS material make a usable store (nothing
    /// connects).
    pub(super) fn check(&self) -> Result<(), StoreError> {
        // The system's roots are loaded only to connect (it takes a while).
        if self.ca.is_some() || self.identity.is_some() {
            self.tls_config()?;
        }
        match &self.topology {
            Topology::Single => self.node().map(drop),
            Topology::Cluster => self
                .cluster_client(std::time::Duration::from_secs(1), TcpSettings::default())
                .map(drop),
            Topology::Sentinel { master } => self.sentinels(master).map(drop),
        }
    }

    /// rustls's settings for `rediss://`: the CA file's certificates, or
    /// the system's roots; the client certificate if one is set.
    pub(super) fn tls_config(&self) -> Result<Option<ClientConfig>, StoreError> {
        if !self.tls {
            return Ok(None);
        }
        let mut roots = RootCertStore::empty();
        match &self.ca {
            Some(pem) => {
                for certificate in CertificateDer::pem_slice_iter(pem) {
                    let certificate =
                        certificate.map_err(|_| StoreError::config("the CA file is not PEM"))?;
                    roots.add(certificate).map_err(|_| {
                        StoreError::config("the CA file holds a certificate rustls refuses")
                    })?;
                }
            }
            None => {
                // Unreadable system certificates are skipped, as rustls's
                // own platform loaders do; none at all is an error.
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    return Err(StoreError::config(
                        "no system CA certificates found for rediss://: give a CA file",
                    ));
                }
            }
        }
        let builder = ClientConfig::builder().with_root_certificates(roots);
        let config = match &self.identity {
            Some(identity) => {
                let (chain, key) = identity.parse()?;
                builder.with_client_auth_cert(chain, key).map_err(|_| {
                    StoreError::config("the client certificate and key do not go together")
                })?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Some(config))
    }

    /// Where a single node is, and how to log in to it.
    pub(super) fn node(&self) -> Result<(Endpoint, RedisConnectionInfo), StoreError> {
        let info = self.urls[0]
            .as_str()
            .into_connection_info()
            .map_err(|_| self.unusable())?;
        let endpoint = Endpoint::of(info.addr()).map_err(|_| self.unusable())?;
        Ok((endpoint, info.redis_settings().clone()))
    }

    /// The cluster client, bounded by `timeout` per connection and answer;
    /// `settings` lead its connections to the store's dialer.
    pub(super) fn cluster_client(
        &self,
        timeout: std::time::Duration,
        settings: TcpSettings,
    ) -> Result<ClusterClient, StoreError> {
        ClusterClient::builder(self.urls.iter().map(String::as_str))
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .tcp_settings(settings)
            .build()
            .map_err(|_| self.unusable())
    }

    /// The sentinels. The URLs' user, password and database are used for
    /// the master too (the user and password for the sentinels); TLS for
    /// both.
    pub(super) fn sentinels(&self, master: &str) -> Result<Sentinels, StoreError> {
        let mut endpoints = Vec::new();
        let mut settings = None;
        for url in &self.urls {
            let info = url
                .as_str()
                .into_connection_info()
                .map_err(|_| self.unusable())?;
            settings.get_or_insert_with(|| info.redis_settings().clone());
            endpoints.push(Endpoint::of(info.addr()).map_err(|_| self.unusable())?);
        }
        let settings = settings.unwrap_or_default();
        Ok(Sentinels::new(master, endpoints, settings, self.tls))
    }

    fn unusable(&self) -> StoreError {
        StoreError::config(format!("`{}` is not a usable Redis URL", self.address))
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("topology", &self.topology)
            .field("address", &self.address)
            .field("ca", &self.ca.is_some())
            .field("client_certificate", &self.identity.is_some())
            .finish()
    }
}

/// Largest certificate or key file read (a chain, not a document).
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// A PEM file: bounded, never a FIFO (it would hang the reader).
fn read_pem(path: &Path, what: &str) -> Result<Vec<u8>, StoreError> {
    tokenmux_store::read_bounded(path, MAX_PEM_BYTES)
        .map(|(bytes, _)| bytes)
        .map_err(|e| StoreError::config(format!("the {what}: {e}")))
}

struct Described {
    address: String,
    hidden: Vec<String>,
    local: bool,
    tls: bool,
}

/// What of a URL may be printed, the password that must not be, and
/// whether it names this machine.
fn describe(url: &str) -> Result<Described, StoreError> {
    let parsed =
        url::Url::parse(url).map_err(|_| StoreError::config("a Redis URL is not a URL"))?;
    let tls = match parsed.scheme() {
        "redis" | "redis+unix" | "unix" => false,
        "rediss" => true,
        other => {
            return Err(StoreError::config(format!(
                "a Redis URL starts with redis:// or rediss:// (TLS), not {other}://"
            )));
        }
    };
    let mut hidden = Vec::new();
    if let Some(password) = parsed.password().filter(|p| !p.is_empty()) {
        hidden.push(password.to_owned());
        if let Ok(decoded) = percent_encoding::percent_decode_str(password).decode_utf8() {
            hidden.push(decoded.into_owned());
        }
    }
    let (address, local) = match parsed.host_str() {
        Some(host) => {
            let local = tokenmux_wire::net::is_loopback_host(host);
            let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
            let address = format!("{}://{host}{port}{}", parsed.scheme(), parsed.path());
            (address, local)
        }
        None => (format!("{}://{}", parsed.scheme(), parsed.path()), true),
    };
    Ok(Described {
        address,
        hidden,
        local,
        tls,
    })
}

/// The Redis Cluster hash slot of `key`: CRC16 (XMODEM) of its hash tag,
/// the part between the first `{` and the next `}` when not empty.
pub(super) fn hash_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let tagged = bytes.iter().position(|b| *b == b'{').and_then(|open| {
        let rest = &bytes[open + 1..];
        let close = rest.iter().position(|b| *b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    crc16::State::<crc16::XMODEM>::calculate(tagged.unwrap_or(bytes)) % 16384
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_the_hash_tag() {
        // Values from the Redis Cluster specification's reference implementation.
        assert_eq!(hash_slot("123456789"), 0x31C3); // the CRC16 check value
        assert_eq!(hash_slot("{user1000}.following"), hash_slot("user1000"));
        assert_eq!(hash_slot("foo{}{bar}"), hash_slot("foo{}{bar}"));
        assert_ne!(hash_slot("foo{}{bar}"), hash_slot("bar"));
    }

    #[test]
    fn only_loopback_and_sockets_are_local() {
        let local = |url: &str| describe(url).unwrap().local;
        assert!(local("redis://127.0.0.1:6379"));
        assert!(local("redis://[::1]:6379"));
        assert!(local("rediss://localhost"));
        assert!(local("redis+unix:///run/redis.sock"));
        assert!(!local("redis://10.0.0.5:6379"));
        assert!(!local("rediss://cache.example.com:6380"));
    }

    #[test]
    fn passwords_are_hidden_and_schemes_checked() {
        let d = describe("rediss://user:p%40ss@cache.example.com:6380/2").unwrap();
        assert_eq!(d.address, "rediss://cache.example.com:6380/2");
        assert!(d.hidden.contains(&"p@ss".to_owned()) && d.tls);
        assert!(describe("http://cache").is_err());
        let mixed = Target::new(Topology::Cluster, &["redis://a:1", "rediss://b:2"]);
        assert!(matches!(mixed, Err(ref e) if e.kind() == tokenmux_store::StoreErrorKind::Config));
        let plain = Target::new(Topology::Single, &["redis://a:1"]).unwrap();
        let mut plain2 = plain.clone();
        let why = plain2.set_ca_file(Path::new("/nonexistent")).unwrap_err();
        assert!(why.to_string().contains("rediss://"), "{why}");
    }

    #[test]
    fn a_fifo_as_a_ca_file_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("ca.pem");
        tokenmux_store::testkit::make_fifo(&fifo);
        let mut target = Target::new(Topology::Single, &["rediss://localhost:1"]).unwrap();
        let why = target.set_ca_file(&fifo).unwrap_err();
        assert!(
            why.to_string().contains("not a regular file (a FIFO)"),
            "{why}"
        );
    }
}
