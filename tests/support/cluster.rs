//! A throwaway Redis Cluster (or Valkey cluster) of `RedisServer`s, each loading the module
//! with the same arguments: the cluster scenarios (tests/scenarios/cluster.rs) and
//! `make bench MODE=cluster` (benches/cdc.rs) start it.

use super::servers::{Flavor, RedisServer};
use super::streams::{info_field, value_to_string, wait_until};
use redis_cdc_core::cluster::{parse_nodes, Node};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

/// Nodes made one cluster by `redis-cli --cluster create ... --cluster-replicas N`.
pub struct Cluster {
    pub nodes: Vec<RedisServer>,
}

impl Cluster {
    /// `primaries` primaries with `replicas` replicas each; `redis_args` are more redis-server
    /// options of every node (after the cluster's own). Returns once every node says
    /// `cluster_state:ok` and sees `primaries` primaries.
    pub fn start_with(
        flavor: &Flavor,
        primaries: usize,
        replicas: usize,
        redis_args: &[&str],
        module_args: &[&str],
    ) -> Cluster {
        let mut args = vec![
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
        ];
        args.extend_from_slice(redis_args);
        let nodes: Vec<RedisServer> = (0..primaries * (1 + replicas))
            .map(|_| RedisServer::start_on(flavor, &args, module_args))
            .collect();
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())));
        args.extend(["--cluster-replicas".into(), replicas.to_string()]);
        args.push("--cluster-yes".into());
        let out = Command::new("redis-cli")
            .args(&args)
            .output()
            .expect("redis-cli runs");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let c = Cluster { nodes };
        c.wait_ok(primaries);
        c
    }

    /// Wait until every running node says `cluster_state:ok` and `primaries` primaries run.
    pub fn wait_ok(&self, primaries: usize) {
        wait_until(Duration::from_secs(60), "the cluster to be ok", || {
            self.alive().all(|n| {
                info_like(n, &["CLUSTER", "INFO"], "cluster_state").as_deref() == Some("ok")
            }) && self.primaries().len() == primaries
        });
    }

    pub fn alive(&self) -> impl Iterator<Item = &RedisServer> {
        self.nodes.iter().filter(|n| n.is_running())
    }

    /// The running nodes that are primaries now.
    pub fn primaries(&self) -> Vec<&RedisServer> {
        self.alive()
            .filter(|n| {
                info_field(n, "replication", "role").as_deref() == Some("master")
                    && n.try_cmd(&["CLUSTER", "MYID"])
                        .is_ok_and(|v| v != redis::Value::Nil)
            })
            .collect()
    }

    /// The node serving `key` (the others answer MOVED).
    pub fn owner(&self, key: &str) -> &RedisServer {
        self.alive()
            .find(|n| {
                info_field(n, "replication", "role").as_deref() == Some("master")
                    && n.try_cmd(&["EXISTS", key]).is_ok()
            })
            .unwrap_or_else(|| panic!("no node serves {key}"))
    }

    /// The running replica of `primary`.
    pub fn replica_of(&self, primary: &RedisServer) -> &RedisServer {
        let id = value_to_string(&primary.cmd(&["CLUSTER", "MYID"]));
        self.alive()
            .find(|n| {
                value_to_string(&n.cmd(&["CLUSTER", "NODES"]))
                    .lines()
                    .any(|l| l.contains("myself,slave") && l.contains(&id))
            })
            .unwrap_or_else(|| panic!("no replica of {}", primary.port()))
    }
}

/// A `field:value` of a text reply (`CLUSTER INFO`).
pub fn info_like(n: &RedisServer, cmd: &[&str], field: &str) -> Option<String> {
    let text = value_to_string(&n.try_cmd(cmd).ok()?);
    text.lines().find_map(|l| {
        l.trim()
            .strip_prefix(field)
            .and_then(|r| r.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    })
}

/// The node itself as it sees itself (the `myself` line of CLUSTER NODES).
pub fn myself(n: &RedisServer) -> Node {
    let text = value_to_string(&n.cmd(&["CLUSTER", "NODES"]));
    parse_nodes(&text)
        .into_iter()
        .find(|n| n.myself)
        .expect("a myself line")
}

/// The slots a node serves.
pub fn my_slots(n: &RedisServer) -> BTreeSet<u16> {
    let me = myself(n);
    (0..16384u16).filter(|s| me.slots.contains(*s)).collect()
}
