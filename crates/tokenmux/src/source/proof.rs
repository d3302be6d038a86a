//! A source's API-request authorization: the token's header, and for a
//! DPoP token a fresh proof per request (RFC 9449 §7) carrying the API's
//! nonce once it gave one.

use http::{HeaderMap, Method};
use reqwest::Url;

use super::TokenSource;
use crate::{Authorization, Error};

impl TokenSource {
    /// The headers that authorize a `method` request to `url` (see
    /// [`Authorization`]): the cached token's header, and with a DPoP
    /// token a proof signed for this request (`htm`, `htu`, `ath`, and
    /// the nonce `url`'s origin last gave). [`BearerAuth`](crate::BearerAuth)
    /// and [`AuthLayer`](crate::AuthLayer) call it for every request.
    pub async fn authorize(&self, method: &Method, url: &Url) -> Result<Authorization, Error> {
        let Some(dpop) = self.inner.fetcher.dpop() else {
            let value = self.authorization().await?;
            return Ok(Authorization::new(self.header_name(), value, None));
        };
        let cached = match self.if_fresh(|cached| (cached.header.get(), cached.token.clone())) {
            Some(fresh) => fresh,
            None => {
                let cached = self.cached().await?;
                (cached.header.get(), cached.token.clone())
            }
        };
        let (value, token) = cached;
        let proof = dpop.proof_for(&token, method, url).await?;
        let name = match proof {
            Some(_) => http::header::AUTHORIZATION,
            None => self.header_name(),
        };
        Ok(Authorization::new(name, value, proof))
    }

    /// Whether this source binds its tokens to a DPoP key
    /// ([`TokenSourceBuilder::dpop`](crate::TokenSourceBuilder::dpop)).
    pub fn uses_dpop(&self) -> bool {
        self.inner.fetcher.dpop().is_some()
    }

    /// Keeps the `DPoP-Nonce` an API at `url` answered with (RFC 9449
    /// §9), for the proofs of later requests to its origin. Returns
    /// whether it was new: a 401 whose `WWW-Authenticate` says
    /// `use_dpop_nonce` is then worth sending again. Without DPoP, or
    /// without a (well-formed) nonce, it does nothing.
    pub fn dpop_nonce_from(&self, url: &Url, headers: &HeaderMap) -> bool {
        self.inner
            .fetcher
            .dpop()
            .is_some_and(|dpop| dpop.api_nonce_from(url, headers))
    }
}
