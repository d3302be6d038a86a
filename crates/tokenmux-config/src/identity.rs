//! Which file a config is, whatever path names it.

use std::path::Path;

/// Which file a config is: device and inode, so that a client and an agent
/// can tell whether they read the same file whatever path each was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileIdentity {
    device: u64,
    inode: u64,
}

impl FileIdentity {
    /// The identity of the file `path` names now, if any.
    pub fn of(path: &Path) -> Option<Self> {
        std::fs::metadata(path).ok().map(|meta| Self::from(&meta))
    }
}

impl From<&std::fs::Metadata> for FileIdentity {
    fn from(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt as _;
        Self {
            device: meta.dev(),
            inode: meta.ino(),
        }
    }
}

impl std::fmt::Display for FileIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.device, self.inode)
    }
}

impl std::str::FromStr for FileIdentity {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        let (device, inode) = text.split_once('.').ok_or(())?;
        Ok(Self {
            device: device.parse().map_err(|_| ())?,
            inode: inode.parse().map_err(|_| ())?,
        })
    }
}
