//! `tokenmux mock` as a child process of a task, for the checks that run a
//! built `tokenmux` against it (`new-provider-check`, `package`).

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::task_error::TaskError;

/// `tokenmux mock` on a free port, killed on drop.
pub struct MockProcess {
    child: Child,
    /// The mock's base URL (`http://127.0.0.1:PORT`).
    pub url: String,
}

impl MockProcess {
    /// Starts `cli mock --port 0` and reads its address.
    pub fn start(cli: &Path) -> Result<Self, TaskError> {
        let mut child = Command::new(cli)
            .args(["mock", "--port", "0"])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| TaskError::spawn("tokenmux mock", e))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| TaskError::Check("the mock has no stdout".into()))?;
        let mut lines = BufReader::new(stdout);
        let mut first = String::new();
        lines
            .read_line(&mut first)
            .map_err(|e| TaskError::io("the mock's stdout", e))?;
        // Keep reading: a closed pipe would end the mock at its next line.
        std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
        let url = first
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
            .ok_or_else(|| TaskError::Check(format!("the mock printed no address: {first}")))?
            .to_owned();
        Ok(Self { child, url })
    }

    /// A token the mock issued for `name`: its prefix, or an unsigned JWT (for
    /// a spec that gives no lifetime) whose payload holds it.
    pub fn issued(name: &str, token: &str) -> bool {
        use base64::Engine as _;
        let prefix = format!("mock-{name}-access-");
        token.starts_with(&prefix)
            || token
                .split('.')
                .nth(1)
                .and_then(|payload| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(payload)
                        .ok()
                })
                .is_some_and(|claims| String::from_utf8_lossy(&claims).contains(&prefix))
    }

    /// Stops the mock.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for MockProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
