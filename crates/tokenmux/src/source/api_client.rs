//! What an API client needs from a source beside its token: the client
//! certificate a certificate-bound token (RFC 8705 §3) must be presented
//! with.

use crate::{ClientCertificate, TokenSource};

impl TokenSource {
    /// The client certificate this source presents to its token endpoint,
    /// if its credentials have one.
    pub fn client_certificate(&self) -> Option<&ClientCertificate> {
        self.inner.fetcher.credentials().client_certificate()
    }

    /// A `reqwest` client builder for the APIs this source's tokens are
    /// for: it presents the source's client certificate, if there is
    /// one, so a certificate-bound token is accepted (an API checks that
    /// the token's `cnf.x5t#S256` is the connection's certificate). With
    /// [`BearerAuth`](crate::BearerAuth):
    ///
    /// ```
    /// # let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    /// # let chain = std::fs::read(format!("{dir}/client.pem")).unwrap();
    /// # let key = std::fs::read(format!("{dir}/client.key")).unwrap();
    /// use tokenmux::{BearerAuth, ClientCertificate, Credentials, Provider, TokenSource};
    ///
    /// let tokens = TokenSource::builder(Provider::neonpanel())
    ///     .credentials(
    ///         Credentials::client("id", "secret")
    ///             .with_client_certificate(ClientCertificate::from_pem(&chain, &key).unwrap()),
    ///     )
    ///     .build()
    ///     .unwrap();
    /// let api = reqwest_middleware::ClientBuilder::new(tokens.http_client_builder().build().unwrap())
    ///     .with(BearerAuth::new(tokens))
    ///     .build();
    /// # let _ = api;
    /// ```
    ///
    /// For another TLS stack (hyper-rustls, tonic), configure it with
    /// [`ClientCertificate::certificate_chain`] and
    /// [`ClientCertificate::private_key`].
    pub fn http_client_builder(&self) -> reqwest::ClientBuilder {
        let builder = reqwest::Client::builder();
        match self.client_certificate() {
            Some(certificate) => builder.identity(certificate.identity()),
            None => builder,
        }
    }
}
