//! The cached `Authorization` header, one copy per shard of reader threads.
//!
//! Every `authorization()` call clones the header, which adds a reference
//! to its buffer's count. With one buffer, readers on several cores all
//! write that one count and pass its cache line back and forth between
//! them, which costs more than the rest of the read. With a copy per
//! shard, each count on a cache line of its own, a thread touches its own.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use reqwest::header::HeaderValue;

/// More copies than this buy nothing but memory.
const MAX_SHARDS: usize = 16;

/// Copies of one header value, each counted on a cache line of its own.
#[derive(Debug)]
pub(crate) struct ShardedHeader {
    copies: Box<[HeaderValue]>,
}

impl ShardedHeader {
    /// One copy per available core (at most 16).
    pub(crate) fn new(header: &HeaderValue) -> Self {
        Self::with_shards(header, shard_count())
    }

    fn with_shards(header: &HeaderValue, shards: usize) -> Self {
        Self {
            copies: (0..shards.max(1)).map(|_| line_copy(header)).collect(),
        }
    }

    /// The calling thread's copy.
    pub(crate) fn get(&self) -> HeaderValue {
        let shard = THREAD_SHARD.with(|shard| *shard);
        self.copies[shard % self.copies.len()].clone()
    }

    /// The value, for comparisons.
    pub(crate) fn value(&self) -> &HeaderValue {
        &self.copies[0]
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
        let sharded = ShardedHeader::with_shards(&header(), 3);
        for copy in sharded.copies.iter().chain([&sharded.get()]) {
            assert_eq!(copy, &header());
            assert!(copy.is_sensitive());
        }
        assert_eq!(sharded.value(), &header());
    }

    #[test]
    fn threads_read_their_own_copy() {
        let sharded = ShardedHeader::with_shards(&header(), 2);
        let copies: Vec<usize> = sharded
            .copies
            .iter()
            .map(|c| c.as_bytes().as_ptr() as usize)
            .collect();
        assert_ne!(copies[0], copies[1]);
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
        assert_eq!(read, copies.into_iter().collect());
    }

    #[test]
    fn zero_shards_still_hold_one_copy() {
        assert_eq!(ShardedHeader::with_shards(&header(), 0).get(), header());
    }
}
