//! Every provider of the registry through the agent, each in its own
//! shape: the credentials its spec needs (from the environment), a value
//! for each required parameter, and the token presented as its spec says
//! in the token JSON and at `/header`. `cargo xtask new-provider-check`
//! runs this with its fixtures compiled in (a token in a response header,
//! query and path values, a form answer, …).

use std::path::Path;

use tokenmux_mock::{MockConfig, MockServer};

use crate::agent::{Agent, access_token};
use crate::support::{TEST_PARAMETER, credentials_from_agent_env, is_mock_token, named, providers};

// Multi-threaded: the agent is driven with blocking calls while the mock
// answers it from this process.
#[tokio::test(flavor = "multi_thread")]
async fn the_agent_serves_every_provider_in_its_own_shape() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("sources:\n");
    for name in providers() {
        let params: Vec<String> = named(name)
            .spec()
            .parameters()
            .iter()
            .filter(|p| p.required)
            .map(|p| format!("{}: {TEST_PARAMETER}", p.name))
            .collect();
        text.push_str(&format!(
            "  {name}:\n    provider: {name}\n    base_url: {}\n    \
             credentials: {{{}}}\n    params: {{{}}}\n    store: {{kind: memory}}\n",
            mock.base_url(name),
            credentials_from_agent_env(name),
            params.join(", "),
        ));
    }
    let config = dir.path().join("tokenmux.yaml");
    std::fs::write(&config, text).unwrap();
    let agent = Agent::start(&[], dir.path(), Path::new(&config), &[]);
    for name in providers() {
        let (status, body) = agent.curl(&format!("/v1/sources/{name}/token"));
        assert_eq!(status, 200, "{name}: {body}\n{}", agent.log());
        let token = access_token(&body);
        assert!(is_mock_token(name, &token), "{name}: {token}");
        let presentation = named(name).spec().presentation;
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["header"], presentation.header, "{name}: {body}");
        let value = presentation.value(&token);
        assert_eq!(json["header_value"], value, "{name}: {body}");
        let (status, header) = agent.curl(&format!("/v1/sources/{name}/header"));
        assert_eq!((status, header), (200, value), "{name}");
        assert_eq!(mock.requests_received(name), 1, "{name}: one exchange");
    }
}
