//! File sinks: each source's token written to files for applications
//! that read it from a file, at start and whenever the token changes.
//! Each write is a new file in the same directory, given its mode before
//! anything is written, synced, then renamed over the old one: a reader
//! sees the old token or the new one, never part of either.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use tokenmux::{AccessToken, LifecycleEvent, TokenSource};
use tokenmux_config::{SinkConfig, SinkFormat};
use tokio::sync::broadcast::error::RecvError;

use crate::token_json;

/// One file sink, checked.
#[derive(Clone, Debug)]
pub struct FileSink {
    config: SinkConfig,
    mode: u32,
}

impl FileSink {
    /// The sink `config` describes (its mode checked by config check too).
    pub fn new(config: &SinkConfig) -> Result<Self, crate::AgentError> {
        let mode = config.mode_bits().map_err(|message| {
            crate::AgentError::config(format!("sink {}: mode {message}", config.path.display()))
        })?;
        Ok(Self {
            config: config.clone(),
            mode,
        })
    }

    /// What the file holds for `token`.
    fn contents(&self, token: &AccessToken, source: &TokenSource) -> Vec<u8> {
        let presentation = source.provider().spec().presentation;
        match self.config.format {
            SinkFormat::Raw => token.secret().expose_secret().as_bytes().to_vec(),
            SinkFormat::Header => token_json::presented(token, &presentation).1.into_bytes(),
            SinkFormat::Json => token_json::body(token, &presentation),
        }
    }

    /// Writes `contents` atomically.
    fn write(&self, contents: &[u8]) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        let path = &self.config.path;
        let dir = path.parent().unwrap_or(Path::new("/"));
        let mut file = tempfile::Builder::new()
            .prefix(".tokenmux-sink-")
            .permissions(std::fs::Permissions::from_mode(0o600))
            .tempfile_in(dir)?;
        // The mode asked for, whatever the umask made of it.
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(self.mode))?;
        file.write_all(contents)?;
        file.as_file().sync_all()?;
        file.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Keeps `sinks` up to date with `source`'s token: written once the first
/// token is there, then after each refresh. A failed write is logged (once
/// until it succeeds again) and retried at the next refresh.
pub async fn keep_written(source: TokenSource, sinks: Arc<[FileSink]>) {
    let mut events = source.subscribe();
    let mut written: Option<AccessToken> = None;
    let mut failing = false;
    loop {
        if let Ok(token) = source.token().await
            && written.as_ref() != Some(&token)
        {
            let mut ok = true;
            for sink in sinks.iter() {
                let contents = sink.contents(&token, &source);
                if let Err(error) = sink.write(&contents) {
                    ok = false;
                    if !failing {
                        tracing::warn!(
                            source = source.name(),
                            provider = source.provider().name(),
                            path = %sink.config.path.display(),
                            %error,
                            "cannot write the token to a file sink; tried again at the next refresh"
                        );
                    }
                }
            }
            failing = !ok;
            if ok {
                written = Some(token);
            }
        }
        // Until the next token: its event, or a missed one (lagged).
        loop {
            match events.recv().await {
                Ok(LifecycleEvent::Refreshed { .. }) | Err(RecvError::Lagged(_)) => break,
                Ok(_) => continue,
                Err(RecvError::Closed) => return,
            }
        }
    }
}
