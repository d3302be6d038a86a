//! One process of the crash-safety tests: rotates the token in a file store
//! by compare-and-swap, version after version, as a refresh would.
//!
//! `tokenmux-file-writer DIR forever` writes until killed (it prints
//! `wrote N` after its first write);
//! `tokenmux-file-writer DIR count N` makes N writes and prints the
//! versions it stored, one JSON array.

use std::time::{Duration, SystemTime};

use tokenmux::{
    AccessToken, Credentials, EncryptionKey, FileStore, Provider, PutOutcome, Secret, TokenStore,
};

/// Fixed, so that every writer and the test read the same files.
pub const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, mode) = match args.as_slice() {
        [dir, mode, rest @ ..] => (dir.clone(), (mode.clone(), rest.first().cloned())),
        _ => return Err("usage: tokenmux-file-writer DIR forever|count N".into()),
    };
    let store = FileStore::new(&dir)?.with_encryption(EncryptionKey::from_base64(KEY)?);
    let key = Provider::neonpanel().store_key(&Credentials::client("crash", "x"));
    let limit = match mode {
        (mode, _) if mode == "forever" => u64::MAX,
        (mode, Some(n)) if mode == "count" => n.parse()?,
        _ => return Err("usage: tokenmux-file-writer DIR forever|count N".into()),
    };
    let mut written = Vec::new();
    while (written.len() as u64) < limit {
        let current = store.get(&key).await?;
        let expected = current.as_ref().map(|c| c.version);
        let next = expected.map_or(1, |v| v + 1);
        // The token names its version: a reader can tell a torn write.
        let token = AccessToken::new(
            format!("token-{next}"),
            SystemTime::now(),
            Duration::from_secs(3600),
        )
        .with_refresh_token(Some(Secret::new(format!("refresh-{next}"))));
        if let PutOutcome::Stored { version } = store.put(&key, &token.into(), expected).await? {
            written.push(version);
            if written.len() == 1 && limit == u64::MAX {
                // Tells the crash test this process has written: it kills
                // at a random moment from here, however slow the machine.
                println!("wrote {version}");
                std::io::Write::flush(&mut std::io::stdout())?;
            }
        }
    }
    println!("{}", serde_json::to_string(&written)?);
    Ok(())
}
