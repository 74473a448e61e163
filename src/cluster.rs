//! Redis Cluster: whether this Redis runs in cluster mode, and which slots it serves
//! (docs/cluster.md). The pure part (slots, tags, `CLUSTER NODES`) is core's `cluster`.
//!
//! Cluster mode is a startup setting of redis-server (`cluster-enabled yes`): read once at
//! load from the context flags. What changes at run time is the slot map (resharding,
//! failover): the writer reads it under the lock before each batch.

use redis_cdc_core::cluster::{parse_nodes, Node, SlotSet};
use redis_module::{Context, ContextFlags, RedisValue};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Note whether this Redis runs in cluster mode (at load).
pub fn detect(ctx: &Context) {
    let on = ctx.get_flags().contains(ContextFlags::CLUSTER);
    ENABLED.store(on, Ordering::Relaxed);
    if on {
        log::info!("Redis Cluster mode: each table's keys carry the hash tag {{db.table}}, and this node streams the tables whose slots it serves");
    }
}

/// Redis runs with `cluster-enabled yes`.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The cluster's nodes as this node sees them (`CLUSTER NODES`), under the lock `ctx` holds.
pub fn nodes(ctx: &Context) -> Result<Vec<Node>, String> {
    let reply = ctx
        .call("CLUSTER", &["NODES"])
        .map_err(|e| format!("CLUSTER NODES: {e}"))?;
    let text = match &reply {
        RedisValue::Integer(_) | RedisValue::Array(_) | RedisValue::Null => None,
        v => crate::sink::offsets::reply_text(v),
    }
    .ok_or_else(|| "CLUSTER NODES: not a text reply".to_string())?;
    Ok(parse_nodes(&text))
}

/// Whether the cluster is up (`CLUSTER INFO` `cluster_state:ok`): while it is down, Redis
/// refuses a module's key commands.
pub fn is_up(ctx: &Context) -> Result<bool, String> {
    let reply = ctx
        .call("CLUSTER", &["INFO"])
        .map_err(|e| format!("CLUSTER INFO: {e}"))?;
    let text = crate::sink::offsets::reply_text(&reply).unwrap_or_default();
    Ok(text.lines().any(|l| l.trim() == "cluster_state:ok"))
}

/// The slots this node serves as a primary now (none on a replica; a slot being migrated
/// away is not served: its keys are on their way to another node).
pub fn my_slots(ctx: &Context) -> Result<SlotSet, String> {
    Ok(nodes(ctx)?
        .into_iter()
        .find(|n| n.myself)
        .filter(|n| n.primary)
        .map(|n| n.slots)
        .unwrap_or_default())
}

/// What the last session found: this node's own offset hash and every captured table (of
/// all nodes), for CDC.CLUSTER, CDC.WAIT and the mirror counts of CDC.TABLES.
struct Known {
    node_key: Option<String>,
    captured: Vec<String>,
}

static KNOWN: Mutex<Known> = Mutex::new(Known {
    node_key: None,
    captured: Vec::new(),
});

fn known() -> std::sync::MutexGuard<'static, Known> {
    KNOWN.lock().unwrap_or_else(|p| p.into_inner())
}

/// A session started: its node offset hash and the captured tables of the whole cluster.
pub fn session_started(node_key: &str, captured: &[String]) {
    let mut k = known();
    k.node_key = Some(node_key.to_string());
    k.captured = captured.to_vec();
}

/// Cluster mode: `table` is captured, by the node serving its slot (not necessarily this one).
pub fn captured_elsewhere(table: &str) -> bool {
    enabled() && known().captured.iter().any(|t| t == table)
}

/// The offset hash this node writes: `cdc.offset-key`, or in cluster mode the node's own
/// (`<offset-key>{n<i>}`, known once a session has started here).
pub fn offset_key() -> String {
    let configured = crate::config::OFFSET_KEY.get();
    if !enabled() {
        return configured;
    }
    known().node_key.clone().unwrap_or(configured)
}

/// CDC.CLUSTER's rows: each captured table with its slot and the primary serving it now,
/// computed from this node's view of the slot map (`CLUSTER NODES`).
pub fn table_map(ctx: &Context) -> Result<Vec<TableOwner>, String> {
    let nodes = nodes(ctx)?;
    let captured = {
        let k = known();
        if k.node_key.is_none() {
            return Err("this node has not streamed since it loaded the module (a replica, or not connected to the source yet), so it does not know the captured tables: ask a primary".into());
        }
        k.captured.clone()
    };
    Ok(captured
        .into_iter()
        .map(|table| {
            let slot = redis_cdc_core::cluster::table_slot(&table);
            let owner = nodes
                .iter()
                .find(|n| n.primary && !n.failing && n.slots.contains(slot));
            TableOwner {
                slot,
                node: owner.map(|n| n.id.clone()).unwrap_or_default(),
                address: owner.map(|n| n.addr.clone()).unwrap_or_default(),
                here: owner.is_some_and(|n| n.myself),
                table,
            }
        })
        .collect())
}

/// One row of CDC.CLUSTER.
pub struct TableOwner {
    pub table: String,
    pub slot: u16,
    /// The serving primary's node id and `ip:port` (empty when no primary serves the slot).
    pub node: String,
    pub address: String,
    /// This node serves it.
    pub here: bool,
}
