//! A Redis Cluster of masters with one replica each, on loopback.

use std::time::Duration;

use crate::{RedisServer, ServerOptions, TestPki, skipped, wait_until};

/// A Redis Cluster: `masters` masters with a replica each, every slot
/// covered. Nodes are numbered in start order; which are masters changes
/// with failovers, so tests ask ([`master_of`](Self::master_of)).
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// 3 masters and 3 replicas, plaintext (`None` when skipped).
    pub fn start() -> Option<Self> {
        Self::start_with(None)
    }

    /// 3 masters and 3 replicas; with `tls`, every link (clients, the
    /// cluster bus, replication) is TLS.
    pub fn start_with(tls: Option<&TestPki>) -> Option<Self> {
        if skipped() {
            return None;
        }
        let mut options = tls.map(ServerOptions::tls).unwrap_or_default();
        options.args = [
            "--cluster-enabled yes",
            "--cluster-config-file nodes.conf",
            "--cluster-node-timeout 1000",
            // A replica takes over however long it was cut off.
            "--cluster-replica-validity-factor 0",
        ]
        .iter()
        .flat_map(|arg| arg.split(' ').map(str::to_owned))
        .collect();
        if tls.is_some() {
            options
                .args
                .extend(["--tls-cluster", "yes", "--tls-replication", "yes"].map(String::from));
        }
        let nodes: Vec<RedisServer> = (0..6)
            .map(|_| RedisServer::start_with(options.clone()).expect("not skipped"))
            .collect();
        let mut create = vec!["--cluster".to_owned(), "create".to_owned()];
        create.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())));
        create.extend(["--cluster-replicas", "1", "--cluster-yes"].map(String::from));
        let create: Vec<&str> = create.iter().map(String::as_str).collect();
        nodes[0].cli(&create);
        let cluster = Self { nodes };
        cluster.wait_until_healthy();
        // Every replica attached and in sync, so that WAIT counts it.
        wait_until(Duration::from_secs(30), "replicas in sync", || {
            cluster.nodes.iter().all(|n| {
                let info = n.cli_text(&["INFO", "replication"]);
                info.contains("role:master") && info.contains("connected_slaves:1")
                    || info.contains("master_link_status:up")
            })
        });
        Some(cluster)
    }

    /// Every node's URL: the seeds a client may start from.
    pub fn seeds(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The node at `index`.
    pub fn node(&self, index: usize) -> &RedisServer {
        &self.nodes[index]
    }

    /// The hash slot of `key`, as the cluster computes it.
    pub fn slot_of(&self, key: &str) -> u16 {
        self.any_live()
            .cli_text(&["CLUSTER", "KEYSLOT", key])
            .parse()
            .unwrap()
    }

    /// The index of the node serving `slot` as master now.
    pub fn master_of(&self, slot: u16) -> usize {
        self.try_master_of(slot).expect("a master for every slot")
    }

    /// The master of `slot`, if one serves it now (none mid-failover).
    fn try_master_of(&self, slot: u16) -> Option<usize> {
        let port = self
            .topology()
            .into_iter()
            .find(|n| n.master && n.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot)))?
            .port;
        Some(self.index_of(port))
    }

    /// Whether the node at `index` is a master serving slots now.
    pub fn is_master(&self, index: usize) -> bool {
        let port = self.nodes[index].port();
        self.topology()
            .iter()
            .any(|n| n.port == port && n.master && !n.slots.is_empty())
    }

    /// The index of a replica of the master at `master`.
    pub fn replica_of(&self, master: usize) -> usize {
        let id = self.id(master);
        let port = self
            .topology()
            .into_iter()
            .find(|n| n.master_id == id)
            .map(|n| n.port)
            .expect("a replica");
        self.index_of(port)
    }

    /// Kills the node at `index` (SIGKILL): its replica is promoted after
    /// the node timeout.
    pub fn kill(&mut self, index: usize) {
        self.nodes[index].stop();
    }

    /// After [`kill`](Self::kill)ing the master at `killed`: waits until
    /// the others have promoted a replica for `slot` and agree the
    /// cluster is ok (bounded: 30 s).
    pub fn wait_for_failover(&self, killed: usize, slot: u16) {
        wait_until(Duration::from_secs(30), "a replica promoted", || {
            self.try_master_of(slot)
                .is_some_and(|master| master != killed)
        });
        self.wait_until_healthy();
    }

    /// Waits until every slot has a live master and the live nodes agree
    /// the cluster is ok (bounded: 30 s).
    pub fn wait_until_healthy(&self) {
        wait_until(Duration::from_secs(30), "cluster state ok", || {
            self.nodes.iter().filter(|n| n.pid().is_some()).all(|n| {
                String::from_utf8_lossy(&n.cli(&["CLUSTER", "INFO"])).contains("cluster_state:ok")
            })
        });
    }

    /// Starts moving `slot` to the master at `to`, as `redis-cli --cluster
    /// reshard` does: marks it migrating and importing, and moves its keys
    /// one by one. Until [`finish_slot_move`](Self::finish_slot_move),
    /// clients asking the old master for a moved key get `ASK`.
    pub fn start_slot_move(&self, slot: u16, to: usize) {
        let from = self.master_of(slot);
        let (from_id, to_id) = (self.id(from), self.id(to));
        let slot_text = slot.to_string();
        self.nodes[to].cli(&["CLUSTER", "SETSLOT", &slot_text, "IMPORTING", &from_id]);
        self.nodes[from].cli(&["CLUSTER", "SETSLOT", &slot_text, "MIGRATING", &to_id]);
        let keys = self.nodes[from].cli_text(&["CLUSTER", "GETKEYSINSLOT", &slot_text, "1000"]);
        let port = self.nodes[to].port().to_string();
        for key in keys.lines().filter(|k| !k.is_empty()) {
            self.nodes[from].cli(&["MIGRATE", "127.0.0.1", &port, key, "0", "5000"]);
        }
    }

    /// Ends a move: every node learns `slot` is served by `to` (clients
    /// asking another node get `MOVED`).
    pub fn finish_slot_move(&self, slot: u16, to: usize) {
        let to_id = self.id(to);
        let slot_text = slot.to_string();
        for node in self.nodes.iter().filter(|n| n.pid().is_some()) {
            node.cli(&["CLUSTER", "SETSLOT", &slot_text, "NODE", &to_id]);
        }
        self.wait_until_healthy();
    }

    fn id(&self, index: usize) -> String {
        self.nodes[index].cli_text(&["CLUSTER", "MYID"])
    }

    fn any_live(&self) -> &RedisServer {
        self.nodes
            .iter()
            .find(|n| n.pid().is_some())
            .expect("a live node")
    }

    fn index_of(&self, port: u16) -> usize {
        self.nodes
            .iter()
            .position(|n| n.port() == port)
            .expect("a node of ours")
    }

    /// `CLUSTER NODES`, as seen by a live node, without failed nodes.
    fn topology(&self) -> Vec<Node> {
        self.any_live()
            .cli_text(&["CLUSTER", "NODES"])
            .lines()
            .filter_map(Node::parse)
            .filter(|n| !n.failed)
            .collect()
    }
}

/// One line of `CLUSTER NODES`.
struct Node {
    port: u16,
    master: bool,
    failed: bool,
    master_id: String,
    slots: Vec<(u16, u16)>,
}

impl Node {
    fn parse(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line.split(' ').collect();
        let port = fields
            .get(1)?
            .split(['@', ','])
            .next()?
            .rsplit(':')
            .next()?
            .parse()
            .ok()?;
        let flags = fields.get(2)?;
        let slots = fields
            .iter()
            .skip(8)
            .filter(|s| !s.starts_with('['))
            .filter_map(|s| {
                let (a, b) = s.split_once('-').unwrap_or((s, s));
                Some((a.parse().ok()?, b.parse().ok()?))
            })
            .collect();
        Some(Self {
            port,
            master: flags.contains("master"),
            failed: flags.contains("fail") && !flags.contains("fail?"),
            master_id: fields.get(3)?.to_string(),
            slots,
        })
    }
}
