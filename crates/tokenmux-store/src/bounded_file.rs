//! Reading a small file someone else may have written: a config file, a
//! secret file, a key. It is opened without blocking (a FIFO in its place
//! would hang the reader for good), must be a regular file, and is read up
//! to a cap, so no such file can hang tokenmux or exhaust its memory.

use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// Why a file was not read. Messages name the file, never its content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileReadError {
    /// It could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// It is a FIFO, a device, a directory or a socket.
    #[error("{path} is not a regular file (a {kind})")]
    NotRegular {
        /// The file.
        path: String,
        /// What it is instead.
        kind: &'static str,
    },
    /// It is larger than the cap.
    #[error("{path} is larger than {max} bytes")]
    TooLarge {
        /// The file.
        path: String,
        /// The cap.
        max: u64,
    },
}

/// The content of the regular file at `path`, at most `max` bytes, and its
/// metadata (mode, device and inode) as read from the open file. Opened with `O_NONBLOCK`, checked with `fstat` on the open
/// descriptor (no window in which the path could be swapped for a FIFO).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("secret");
/// std::fs::write(&path, "s3cret\n").unwrap();
/// let (bytes, _metadata) = tokenmux_store::read_bounded(&path, 1024).unwrap();
/// assert_eq!(bytes, b"s3cret\n");
/// assert!(tokenmux_store::read_bounded(&path, 3).is_err());
/// assert!(tokenmux_store::read_bounded(dir.path(), 1024).is_err());
/// ```
pub fn read_bounded(path: &Path, max: u64) -> Result<(Vec<u8>, std::fs::Metadata), FileReadError> {
    let shown = || path.display().to_string();
    let io = |source| FileReadError::Io {
        path: shown(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let kind = meta.file_type();
    if !kind.is_file() {
        use std::os::unix::fs::FileTypeExt as _;
        let kind = match () {
            _ if kind.is_dir() => "directory",
            _ if kind.is_fifo() => "FIFO",
            _ if kind.is_socket() => "socket",
            _ if kind.is_char_device() || kind.is_block_device() => "device",
            _ => "special file",
        };
        return Err(FileReadError::NotRegular {
            path: shown(),
            kind,
        });
    }
    if meta.len() > max {
        return Err(FileReadError::TooLarge { path: shown(), max });
    }
    let mut bytes = Vec::new();
    // The file may grow between fstat and read: the cap holds anyway.
    file.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(FileReadError::TooLarge { path: shown(), max });
    }
    Ok((bytes, meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::make_fifo;

    #[test]
    fn a_fifo_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        make_fifo(&fifo);
        let started = std::time::Instant::now();
        let error = read_bounded(&fifo, 1024).unwrap_err();
        assert!(
            matches!(error, FileReadError::NotRegular { kind: "FIFO", .. }),
            "{error}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}
