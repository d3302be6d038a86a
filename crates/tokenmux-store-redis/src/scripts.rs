//! The Lua scripts of the Redis store. Each touches one key, `KEYS[1]`, so
//! that on a Redis Cluster it runs on the one node holding that key's slot
//! (the token and lease keys of one token share a slot by their hash tag).

use redis::Script;

/// Compare-and-swap write. `KEYS[1]` the token hash; ARGV: expected version
/// ('' for none), new version, record, ttl in ms. The same rule as every
/// store: written only if the stored version is the expected one. A key of
/// another type reads as version `foreign`, so the caller can replace it.
pub(super) const PUT: &str = r"
local kind = redis.call('TYPE', KEYS[1]).ok
local version, record = false, false
if kind == 'hash' then
  local current = redis.call('HMGET', KEYS[1], 'v', 'd')
  version, record = current[1], current[2]
elseif kind ~= 'none' then
  version = 'foreign'
end
if (version or '') ~= ARGV[1] then
  return {0, version, record}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, false, false}
";

/// Read. `KEYS[1]` the token hash; returns {version, record}.
pub(super) const GET: &str = r"
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'hash' then
  return redis.call('HMGET', KEYS[1], 'v', 'd')
elseif kind == 'none' then
  return {false, false}
end
return {'foreign', false}
";

/// Extends the lease `KEYS[1]` by `ARGV[2]` ms if `ARGV[1]` still owns it.
pub(super) const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// Deletes the lease `KEYS[1]` if `ARGV[1]` still owns it: a holder whose
/// lease lapsed never deletes the next holder's.
pub(super) const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// The scripts, loaded on first use by each node (`EVALSHA`, then
/// `SCRIPT LOAD` when a node answers `NOSCRIPT`).
pub(super) struct Scripts {
    pub(super) put: Script,
    pub(super) get: Script,
    pub(super) renew: Script,
    pub(super) release: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            put: Script::new(PUT),
            get: Script::new(GET),
            renew: Script::new(RENEW),
            release: Script::new(RELEASE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `redis.call` names `KEYS[1]` and no other key: a cluster runs
    /// the script on that key's node, where another slot's key would fail.
    #[test]
    fn every_script_touches_only_its_one_key() {
        for script in [PUT, GET, RENEW, RELEASE] {
            let calls: Vec<&str> = script
                .match_indices("redis.call(")
                .map(|(i, _)| &script[i..])
                .collect();
            assert!(!calls.is_empty());
            for call in calls {
                let call = &call[..call.find(')').unwrap()];
                assert!(call.contains(", KEYS[1]"), "{call}");
            }
            assert!(
                !script.contains("KEYS[2]") && !script.contains("ARGV[1] .."),
                "{script}"
            );
        }
    }
}
