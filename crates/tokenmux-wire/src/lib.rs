//! Runtime support for the token-endpoint clients that `cargo xtask regen`
//! generates with progenitor.
//!
//! progenitor cannot express every documented wire format (multipart
//! bodies, vendor JSON media types, HTTP Basic client authentication). The
//! generator lowers those to what progenitor can express and records the
//! real format of each operation as an [`OperationWire`]; the generated
//! client's hooks call into this crate to put that format back on every
//! request, and to read responses within a size cap.
//!
//! Users rarely need this crate directly: the provider crates re-export
//! [`ClientConfig`], [`BasicAuth`] and [`Secret`].

mod auth_method;
mod body_fields;
mod client_assertion;
mod client_auth;
mod config;
mod dpop;
mod echo;
mod endpoint;
mod error_in_success;
mod expiry;
mod glue;
mod grant_assertion;
mod hand_written;
mod hooks;
mod macros;
mod needs;
pub mod net;
mod operation;
mod parameters;
mod placement;
mod presentation;
pub mod scrub;
mod secret;
mod sent_request;
mod sent_secrets;
mod signing_key;
mod strict_json;
#[cfg(test)]
mod test_spec;

pub use auth_method::{AuthMethod, UnknownAuthMethod};
pub use client_assertion::JWT_BEARER_ASSERTION_TYPE;
pub use client_auth::{ClientAuthError, ClientAuthentication, client_auth_method};
pub use config::{
    AssertionSigning, BasicAuth, BasicEncoding, ClientConfig, DEFAULT_MAX_RESPONSE_BYTES,
    GrantAssertionSigning,
};
pub use dpop::{DPOP, DPOP_NONCE, DpopSigning, USE_DPOP_NONCE, dpop_nonce, is_dpop_nonce};
pub use endpoint::{
    AssertionClaim, BoxFuture, CredentialRole, EndpointResult, EndpointSpec, ErrorCondition,
    ErrorDetails, ErrorFields, ErrorResponse, FieldValue, Grant, GrantAssertion, GrantCredentials,
    GrantKind, GrantSpec, Issued, ParameterSpec, RequestField, TokenEndpoint, TokenFields,
    TokenRequest,
};
pub use error_in_success::error_in_success;
pub use expiry::{Expires, Expiry, ExpiryForm};
pub use glue::{
    decode_issued, issued_response, map_error, request_body, request_without_body, set_pointer,
};
pub use hand_written::{form_body, read_answer, send_form};
pub use hooks::{
    AmbiguousJson, BodyLimitExceeded, BufferedBody, RedirectFollowed, TOKENMUX_USER_AGENT,
    buffered_body, execute, inspect_response, prepare_request,
};
pub use needs::Needs;
pub use operation::{AssertionAudience, BodyEncoding, ClientAuth, OperationWire, Server};
pub use parameters::Parameters;
pub use placement::{Place, PlacedValue, PlacementError, path_placeholder, place_values};
pub use presentation::{Presentation, presentation_scheme};
/// The generated clients' response and error types, re-exported for
/// hand-written [`TokenEndpoint`] implementations.
pub use progenitor_client::{Error as ClientError, ResponseValue};
pub use secret::Secret;
pub use sent_request::SentRequest;
pub use sent_secrets::SentSecrets;
pub use signing_key::SigningKey;
pub use strict_json::has_duplicate_keys;

/// What the glue macros ([`client_hooks!`], [`token_endpoint!`]) name
/// from the generated crate's side; not an API.
#[doc(hidden)]
pub mod __private {
    pub use reqwest;
    pub use serde_json;
}
