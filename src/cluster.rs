//! Redis Cluster: whether this Redis runs in cluster mode, and which slots it serves
//! (docs/cluster.md). The pure part (slots, tags, `CLUSTER NODES`) is core's `cluster`.
//!
//! Cluster mode is a startup setting of redis-server (`cluster-enabled yes`): read once at
//! load from the context flags. What changes at run time is the slot map (resharding,
//! failover): the writer reads it under the lock before each batch.

use redis_cdc_core::cluster::{parse_nodes, Node, SlotSet};
use redis_module::{Context, ContextFlags, RedisValue};
use std::sync::atomic::{AtomicBool, Ordering};

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
