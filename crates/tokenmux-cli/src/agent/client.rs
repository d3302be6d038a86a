//! `tokenmux token NAME` through a running agent.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::Failure;

/// A token the agent handed out.
pub(crate) struct AgentToken {
    pub(crate) access_token: String,
    pub(crate) token_type: String,
    pub(crate) expires_at: SystemTime,
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    token_type: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorFields,
}

#[derive(Deserialize)]
struct ErrorFields {
    code: String,
    message: String,
}

/// The token of `name` from the agent at `socket`; `None` when no agent
/// answers there or it serves no such source (the caller then builds the
/// source itself). The agent's errors keep their exit codes.
pub(crate) async fn token(socket: &Path, name: &str) -> Result<Option<AgentToken>, Failure> {
    if !socket.exists() {
        return Ok(None);
    }
    let client = reqwest::Client::builder()
        .unix_socket(socket)
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| Failure::usage(format!("cannot build the agent client: {e}")))?;
    let url = reqwest::Url::parse("http://agent/v1/sources/")
        .and_then(|base| base.join(&format!("{}/token", urlencode(name))))
        .map_err(|e| Failure::usage(format!("bad source name: {e}")))?;
    let response = match client.get(url).send().await {
        Ok(response) => response,
        Err(error) => {
            tracing::debug!(%error, "no agent answers on its socket; building the source here");
            return Ok(None);
        }
    };
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| agent_failure(4, format!("the agent's answer was cut: {e}")))?;
    if status.is_success() {
        let token: TokenBody = serde_json::from_slice(&body)
            .map_err(|_| agent_failure(1, "the agent answered with an unreadable token".into()))?;
        return Ok(Some(AgentToken {
            access_token: token.access_token,
            token_type: token.token_type,
            expires_at: SystemTime::now() + Duration::from_secs(token.expires_in),
        }));
    }
    let Ok(ErrorBody { error }) = serde_json::from_slice::<ErrorBody>(&body) else {
        return Err(agent_failure(
            1,
            format!("the agent answered HTTP {status}"),
        ));
    };
    let code = match error.code.as_str() {
        "unknown_source" => return Ok(None),
        "config" | "peer_not_allowed" => 2,
        "credentials_rejected" => 3,
        "rate_limited" | "server_error" | "timeout" | "transport" | "refresh_aborted" => 4,
        _ => 1,
    };
    Err(agent_failure(
        code,
        format!("agent: {} ({})", error.message, error.code),
    ))
}

fn agent_failure(code: u8, message: String) -> Failure {
    Failure { code, message }
}

/// A source name as one path segment.
fn urlencode(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
}
