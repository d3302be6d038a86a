//! The cached `Authorization` header, one copy per shard of reader threads.
//!
//! Every `authorization()` call clones the header, which adds a reference
//! to its buffer's count. With one buffer, readers on several cores all
//! write that one count and pass its cache line back and forth between
//! them, which costs more than the rest of the read. With a copy per
//! shard, each count on a cache line of its own, a thread touches its own.
//!
//! The copies are made as threads first read: a source that is never read
//! through `authorization()` (a CLI printing `token()`, most of an agent's
//! sources between two reads) holds the header once, and one read by one
//! thread at a time costs one copy, not one per core.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use reqwest::header::HeaderValue;

/// More copies than this buy nothing but memory.
const MAX_SHARDS: usize = 16;

/// One header value, and its copies each counted on a cache line of its
/// own, made at each shard's first read.
#[derive(Debug)]
pub(crate) struct ShardedHeader {
    header: HeaderValue,
    /// One slot per available core (at most 16), made at the first read.
    copies: OnceLock<Box<[OnceLock<HeaderValue>]>>,
}

impl ShardedHeader {
    /// One copy per available core (at most 16), made as threads read.
    pub(crate) fn new(header: HeaderValue) -> Self {
        Self {
            header,
            copies: OnceLock::new(),
        }
    }

    #[cfg(test)]
    fn with_shards(header: HeaderValue, shards: usize) -> Self {
        let sharded = Self::new(header);
        let _ = sharded.copies.set(slots(shards));
        sharded
    }

    /// The calling thread's copy.
    pub(crate) fn get(&self) -> HeaderValue {
        let copies = self.copies.get_or_init(|| slots(shard_count()));
        // A power of two: a mask, not a division, on every read.
        let shard = THREAD_SHARD.with(|shard| *shard) & (copies.len() - 1);
        copies[shard]
            .get_or_init(|| line_copy(&self.header))
            .clone()
    }

    /// The value, for comparisons.
    pub(crate) fn value(&self) -> &HeaderValue {
        &self.header
    }

    /// How many copies were made (for tests).
    #[cfg(test)]
    fn made(&self) -> usize {
        self.copies.get().map_or(0, |copies| {
            copies.iter().filter(|c| c.get().is_some()).count()
        })
    }
}

/// Aligned to two cache lines (what adjacent-line prefetching couples), so
/// the reference count `Bytes` keeps beside its owner shares them with
/// nothing else.
#[repr(align(128))]
struct OwnLines(Box<[u8]>);

impl AsRef<[u8]> for OwnLines {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn line_copy(header: &HeaderValue) -> HeaderValue {
    let bytes = Bytes::from_owner(OwnLines(header.as_bytes().into()));
    let mut copy = HeaderValue::from_maybe_shared(bytes).unwrap_or_else(|_| header.clone());
    copy.set_sensitive(header.is_sensitive());
    copy
}

/// `shards` empty slots (at least one), rounded up to a power of two.
fn slots(shards: usize) -> Box<[OnceLock<HeaderValue>]> {
    (0..shards.max(1).next_power_of_two())
        .map(|_| OnceLock::new())
        .collect()
}

fn shard_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_SHARDS)
    })
}

thread_local! {
    /// Threads are numbered as they first read, so a runtime's workers
    /// spread over the shards.
    static THREAD_SHARD: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> HeaderValue {
        let mut value = HeaderValue::from_static("Bearer abc.def");
        value.set_sensitive(true);
        value
    }

    #[test]
    fn every_copy_is_the_header_and_stays_sensitive() {
        let sharded = ShardedHeader::with_shards(header(), 3);
        let copy = sharded.get();
        assert_eq!(copy, header());
        assert!(copy.is_sensitive());
        assert_eq!(sharded.value(), &header());
    }

    #[test]
    fn copies_are_made_by_the_threads_that_read() {
        let sharded = ShardedHeader::with_shards(header(), 2);
        assert_eq!(sharded.made(), 0, "no copy before a read");
        // Threads are numbered in turn: eight of them, one after the
        // other, use both copies (other tests' threads take few numbers).
        let read: std::collections::HashSet<usize> = (0..8)
            .map(|_| {
                std::thread::scope(|scope| {
                    scope
                        .spawn(|| sharded.get().as_bytes().as_ptr() as usize)
                        .join()
                        .expect("reader thread")
                })
            })
            .collect();
        assert_eq!(read.len(), 2, "one copy per shard");
        assert_eq!(sharded.made(), 2);
        assert!(!read.contains(&(sharded.value().as_bytes().as_ptr() as usize)));
    }

    #[test]
    fn one_thread_reading_makes_one_copy() {
        let sharded = ShardedHeader::with_shards(header(), 16);
        for _ in 0..100 {
            assert_eq!(sharded.get(), header());
        }
        assert_eq!(sharded.made(), 1);
    }

    #[test]
    fn slots_are_a_power_of_two() {
        let lens: Vec<usize> = [0, 1, 2, 3, 5, 16].map(|n| slots(n).len()).to_vec();
        assert_eq!(lens, [1, 1, 2, 4, 8, 16]);
    }

    #[test]
    fn zero_shards_still_hold_one_copy() {
        assert_eq!(ShardedHeader::with_shards(header(), 0).get(), header());
    }
}
