//! The tokenmux agent: one process keeps every named source of a config
//! file fresh and hands tokens to the host's processes, like Vault Agent
//! or a metadata server. The server ([`run`]), its wire format
//! ([`protocol`], shared with the client) and the client ([`client`]) live
//! here; the `tokenmux` CLI's `serve` and `token NAME` commands are thin
//! layers over them. `docs/agent.md` describes the HTTP API.
//!
//! ```no_run
//! # fn example() -> Result<(), tokenmux_agent::AgentError> {
//! use tokenmux_agent::client::{self, AgentAddress, Answer};
//!
//! let socket = tokenmux_agent::default_socket();
//! let address = AgentAddress { socket: &socket, trusted_uid: None };
//! if let Answer::Token(token) = client::token(&address, "partner-a", None, false, None)? {
//!     println!("{} expires at {:?}", token.token_type, token.expires_at);
//! }
//! # Ok(()) }
//! ```

mod access;
pub mod client;
mod error;
mod health;
mod listener;
mod parse_errors;
mod proof;
pub mod protocol;
mod registry;
mod reload;
mod routes;
mod server;
mod sink;
mod socket;
mod state;
mod systemd;
mod token_json;

pub use error::AgentError;
pub use server::{ServeOptions, run};
pub use socket::{default_socket, trusted_default_socket};
