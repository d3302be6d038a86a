//! The Kubernetes sidecar example (`contrib/kubernetes/sidecar.yaml`):
//! valid against the Kubernetes schemas (`kubernetes-validate --strict`,
//! which refuses a misspelt field), and its agent (the ConfigMap's config,
//! the container's arguments, the Secret's files, the probes' paths) serves
//! when run as the manifest runs it, against the mock.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;
use tokenmux_mock::{MockConfig, MockServer};

use crate::agent::{Agent, curl};
use crate::support::{ID, SECRET};

fn manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/kubernetes/sidecar.yaml")
}

/// `kubernetes-validate --strict` against Kubernetes 1.30 (native
/// sidecars): its output, and whether it passed.
fn validate(path: &Path) -> (bool, String) {
    let output = Command::new("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", "1.30.0"])
        .arg(path)
        .output()
        .expect("kubernetes-validate runs (cargo xtask test installs it from PyPI)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success() && !text.contains("ERROR"), text)
}

#[test]
fn the_sidecar_example_is_valid_against_the_kubernetes_schemas() {
    let (passed, text) = validate(&manifest());
    assert!(passed, "{text}");
    assert!(text.contains("deployment/billing"), "{text}");
    // The validator does refuse a mistake.
    let dir = tempfile::tempdir().unwrap();
    let misspelt = dir.path().join("misspelt.yaml");
    let text = std::fs::read_to_string(manifest()).unwrap();
    std::fs::write(&misspelt, text.replace("readinessProbe:", "readinesProbe:")).unwrap();
    let (passed, text) = validate(&misspelt);
    assert!(!passed, "{text}");
}

/// The manifest's documents.
fn documents() -> Vec<Value> {
    let text = std::fs::read_to_string(manifest()).unwrap();
    text.split("\n---\n")
        .map(|document| serde_yaml::from_str(document).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sidecars_config_arguments_and_probes_serve_as_the_manifest_runs_them() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let documents = documents();
    let config = documents
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .and_then(|d| d["data"]["config.yaml"].as_str())
        .unwrap()
        .to_owned();
    let pod = &documents
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .unwrap()["spec"]["template"]["spec"];
    let sidecar = &pod["initContainers"][0];
    assert_eq!(sidecar["name"], "tokenmux");
    let args: Vec<String> = sidecar["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let probe_paths: Vec<String> = ["livenessProbe", "readinessProbe", "startupProbe"]
        .iter()
        .map(|probe| {
            sidecar[probe]["httpGet"]["path"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(probe_paths, ["/livez", "/readyz", "/readyz"]);

    // The Secret's files, and the mock for the partner's base URL.
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    std::fs::write(secrets.join("client-id"), ID).unwrap();
    std::fs::write(secrets.join("client-secret"), SECRET).unwrap();
    let config = config.replace("/etc/tokenmux/secrets", secrets.to_str().unwrap());
    let mut config: Value = serde_yaml::from_str(&config).unwrap();
    config["sources"]["partner-a"]["base_url"] = mock.base_url("neonpanel").into();
    let config = serde_yaml::to_string(&config).unwrap();
    let config_path = dir.path().join("config.yaml");
    std::fs::write(&config_path, config).unwrap();
    // The arguments as given, but for the paths this test owns and a free
    // port.
    let port = tokenmux_redis_harness::free_port();
    let extra: Vec<String> = args
        .iter()
        .filter(|a| *a != "serve" && !a.starts_with("--config=") && !a.starts_with("--socket="))
        .map(|a| match a.strip_prefix("--metrics-listen=") {
            Some(_) => format!("--metrics-listen=0.0.0.0:{port}"),
            None => a.clone(),
        })
        .collect();
    assert!(extra.contains(&"--metrics-public".to_owned()), "{args:?}");
    let agent = tokio::task::spawn_blocking({
        let (dir, config_path) = (dir.path().to_owned(), config_path.clone());
        move || {
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            Agent::start(&[], &dir, &config_path, &extra)
        }
    })
    .await
    .unwrap();
    tokio::task::spawn_blocking(move || {
        let (status, body) = agent.curl("/v1/sources/partner-a/header");
        assert_eq!(status, 200, "{body}");
        assert!(body.starts_with("Bearer mock-neonpanel-access-"), "{body}");
        for path in probe_paths {
            let (status, body) = curl(&[&format!("http://127.0.0.1:{port}{path}")]);
            assert_eq!(status, 200, "{path}: {body}");
        }
    })
    .await
    .unwrap();
}
