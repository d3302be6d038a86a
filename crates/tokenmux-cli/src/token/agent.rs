//! `tokenmux token NAME` through a running agent: whom to ask, what, and
//! the token it hands out as the command prints it. The client blocks, so
//! the command asks before it builds an async runtime; an async caller
//! (`exec`, a second round for `--min-lifetime`) asks on a blocking thread.

use std::path::PathBuf;
use std::time::Instant;

use tokenmux_agent::client::{self, AgentAddress, AgentProof, AgentToken, Answer};
use tokenmux_agent::protocol::ProofRequest;
use tokenmux_config::FileIdentity;

use super::args::TokenArgs;
use super::{Obtained, proof_request};
use crate::Failure;
use crate::config_file;

/// One question for the agent, owned (a blocking thread can take it).
pub(super) struct Query {
    socket: PathBuf,
    trusted_uid: Option<u32>,
    name: String,
    /// The config file this command would read, which the agent must serve.
    config: Option<FileIdentity>,
    refresh: bool,
    proof: Option<ProofRequest>,
    deadline: Option<Instant>,
}

impl Query {
    /// What to ask the agent for `name`'s token (with `refresh`, a new
    /// one), by `deadline`; `None` when no agent is expected (no socket,
    /// or a config file whose identity cannot be read) or `--no-agent`.
    pub(super) fn new(
        name: &str,
        args: &TokenArgs,
        refresh: bool,
        deadline: Option<Instant>,
    ) -> Result<Option<Self>, Failure> {
        if args.no_agent {
            return Ok(None);
        }
        let socket = match &args.socket {
            Some(socket) => socket.clone(),
            None => match tokenmux_agent::trusted_default_socket() {
                Some(socket) if socket.exists() => socket,
                _ => return Ok(None),
            },
        };
        // The agent must serve the file this command would read.
        let config = match config_file::locate(args.config.as_deref()) {
            Some(path) => match config_file::FileIdentity::of(&path) {
                Some(identity) => Some(identity),
                None => return Ok(None),
            },
            None => None,
        };
        let proof = proof_request(args)?.map(|(method, url)| ProofRequest {
            htm: method.to_string(),
            htu: url.to_string(),
            nonce: args.dpop_nonce.clone(),
        });
        Ok(Some(Self {
            socket,
            trusted_uid: args.agent_uid,
            name: name.to_owned(),
            config,
            refresh,
            proof,
            deadline,
        }))
    }

    /// The token (and with --dpop-proof the proof the agent signs for it);
    /// `None` (said on stderr) when the agent cannot serve it, to build
    /// the source in this process. Blocks, until the deadline at most.
    pub(super) fn ask(&self) -> Result<Option<Obtained>, Failure> {
        let address = AgentAddress {
            socket: &self.socket,
            trusted_uid: self.trusted_uid,
        };
        let fallback = |why: String| {
            tracing::warn!("{why}; building the source in this process");
            Ok(None)
        };
        let (name, config, deadline) = (&self.name, self.config, self.deadline);
        let token = match client::token(&address, name, config, self.refresh, deadline)? {
            Answer::Token(token) => token,
            Answer::Fallback(why) => return fallback(why),
            Answer::Done | Answer::Proof(_) => return Ok(None),
        };
        let Some(request) = &self.proof else {
            return Ok(Some(obtained(token, None)));
        };
        match client::proof(&address, name, config, request, deadline)? {
            Answer::Proof(proof) => Ok(Some(obtained(token, Some(proof)))),
            Answer::Fallback(why) => fallback(why),
            Answer::Done | Answer::Token(_) => Ok(None),
        }
    }

    /// [`ask`](Self::ask) from async code, on a blocking thread: the
    /// runtime goes on (`exec` forwards signals meanwhile).
    pub(super) async fn ask_aside(self) -> Result<Option<Obtained>, Failure> {
        tokio::task::spawn_blocking(move || self.ask())
            .await
            .unwrap_or_else(|e| {
                Err(Failure {
                    code: 1,
                    message: format!("asking the agent failed: {e}"),
                })
            })
    }
}

/// The agent's token as the command hands it out; with a proof, the token
/// is the one the proof goes with.
fn obtained(token: AgentToken, proof: Option<AgentProof>) -> Obtained {
    let (header_value, dpop) = match proof {
        Some(proof) => (proof.header_value, Some(proof.dpop)),
        None => (token.header_value, None),
    };
    let secret = match dpop.is_some() {
        true => header_value.strip_prefix("DPoP ").map(str::to_owned),
        false => None,
    };
    Obtained {
        secret: secret.unwrap_or(token.access_token),
        token_type: token.token_type,
        expires_at: token.expires_at,
        header: token.header,
        header_value,
        dpop,
    }
}
