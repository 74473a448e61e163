//! The offset hash (`cdc.offset-key`): reading the stored starting point, and writing a new one
//! outside the writer's batches.
//!
//! The writer stores each batch's position with its entries (one atomic unit); these two
//! functions serve the start of a session: read what was stored, or store where a fresh start
//! or a re-snapshot begins (the fields are described in docs/events.md).

use crate::error::CdcError;
use crate::ffi::thread_ctx::{DetachedCtx, Locked};
use redis_cdc_core::cluster::{self, LastEntry, SlotSet};
use redis_cdc_core::model::position::{Checkpoint, SnapshotState, SNAPSHOT_FIELD};
use redis_cdc_core::schema::{parse_shape, Shapes};
use redis_module::{CallOptionsBuilder, CallResult, ContextFlags};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The schema history next to the offset hash: the table shapes valid at the stored position,
/// one field per table (docs/layout.md).
pub fn schema_key(offset_key: &str) -> String {
    format!("{offset_key}:schema")
}

/// The tables whose automatic re-read was asked for and is not yet queued for good (a set;
/// docs/snapshot.md).
pub fn reread_key(offset_key: &str) -> String {
    format!("{offset_key}:reread")
}

/// What a session starts from: the stored position, snapshot progress, schema history and
/// the re-reads still to queue.
pub struct Stored {
    pub checkpoint: Option<Checkpoint>,
    pub snapshot: Option<SnapshotState>,
    pub shapes: Shapes,
    pub rereads: Vec<String>,
    /// The mirror setting the stored mirror keys were written with ([`MIRROR_FIELD`]).
    pub mirror: String,
}

/// Offset hash field: the `cdc.mirror` mode and prefix the mirror keys are kept with, so that
/// a session that finds another one fills the mirror by a re-read (docs/mirror.md).
pub const MIRROR_FIELD: &str = "mirror";

/// The stored position, snapshot progress and the shapes stored with them, read under one lock
/// (the writer changes them together).
pub fn load(offset_key: &str, shutdown: &AtomicBool) -> Result<Stored, CdcError> {
    let ctx = DetachedCtx::new().ok_or_else(|| CdcError::retry("no thread-safe context".into()))?;
    let schema_key = schema_key(offset_key);
    let locked = lock(&ctx, shutdown)?;
    let offsets = hash_pairs(locked.call("HGETALL", &[offset_key]), offset_key);
    let schema = hash_pairs(locked.call("HGETALL", &[schema_key.as_str()]), &schema_key);
    let reread_key = reread_key(offset_key);
    let rereads = locked.call("SMEMBERS", &[reread_key.as_str()]);
    drop(locked);
    let rereads: Vec<String> = match rereads {
        Ok(redis_module::RedisValue::Array(v)) => v.into_iter().map(redis_value_string).collect(),
        Ok(_) => Vec::new(),
        Err(e) => {
            return Err(CdcError::setup(format!(
                "cannot read the set {reread_key}: {e}"
            )))
        }
    };
    let offsets = offsets?;
    let bad = |e: String| {
        CdcError::setup(format!(
            "{e}: fix or DEL the key {offset_key} (the module then starts at the source's current end)"
        ))
    };
    let get = |k: &str| {
        offsets
            .iter()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.as_str())
    };
    let checkpoint = Checkpoint::from_fields(get).map_err(bad)?;
    let snapshot = SnapshotState::from_field(get(SNAPSHOT_FIELD)).map_err(bad)?;
    let mut shapes = Shapes::new();
    for (field, value) in schema? {
        match parse_shape(&field, &value) {
            Ok((table, cols)) => {
                shapes.insert(table, cols);
            }
            // Read again from information_schema at the table's next table map.
            Err(e) => log::warn!("{schema_key}: {e}; the table's shape is read again"),
        }
    }
    let mirror = get(MIRROR_FIELD).unwrap_or_default().to_string();
    Ok(Stored {
        checkpoint,
        snapshot,
        shapes,
        rereads,
        mirror,
    })
}

/// A hash's field/value pairs from an HGETALL reply.
fn hash_pairs(
    reply: Result<redis_module::RedisValue, redis_module::RedisError>,
    key: &str,
) -> Result<Vec<(String, String)>, CdcError> {
    let values = match reply {
        Ok(redis_module::RedisValue::Array(v)) => v,
        Ok(_) => Vec::new(),
        Err(e) => return Err(CdcError::setup(format!("cannot read the hash {key}: {e}"))),
    };
    let strings: Vec<String> = values.into_iter().map(redis_value_string).collect();
    Ok(strings
        .chunks_exact(2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect())
}

/// Write the position and snapshot progress (and empty the `trim` streams) as one unit,
/// replicated to the AOF and replicas. A new starting point starts a new schema history: the
/// shapes stored for the old one are deleted with it.
pub fn store(
    offset_key: &str,
    cp: &Checkpoint,
    snapshot: Option<&SnapshotState>,
    trim: &[String],
    shutdown: &AtomicBool,
) -> Result<(), CdcError> {
    let ctx = DetachedCtx::new().ok_or_else(|| CdcError::retry("no thread-safe context".into()))?;
    let locked = lock_writable(&ctx, shutdown)?;
    if locked.get_flags().contains(ContextFlags::SLAVE) {
        return Err(CdcError::retry("this Redis became a replica".into()));
    }
    let fields = cp.to_fields();
    let snap = snapshot.map(SnapshotState::to_field).unwrap_or_default();
    let mut args: Vec<&str> = vec![offset_key];
    for (k, v) in &fields {
        args.push(k);
        args.push(v);
    }
    args.push(SNAPSHOT_FIELD);
    args.push(&snap);
    let opts = CallOptionsBuilder::new()
        .replicate()
        .errors_as_replies()
        .build();
    for key in trim {
        let r: CallResult = locked.call_ext("XTRIM", &opts, &[key.as_str(), "MAXLEN", "0"]);
        if let Err(e) = r {
            return Err(CdcError::setup(format!(
                "cannot trim the stream {key}: {}",
                e.to_utf8_string().unwrap_or_default()
            )));
        }
    }
    // A new starting point: new shapes, and no re-read left from the old one.
    let (schema, rereads) = (schema_key(offset_key), reread_key(offset_key));
    let r: CallResult = locked.call_ext("DEL", &opts, &[schema.as_str(), rereads.as_str()]);
    if let Err(e) = r {
        return Err(CdcError::setup(format!(
            "cannot delete {schema} and {rereads}: {}",
            e.to_utf8_string().unwrap_or_default()
        )));
    }
    let r: CallResult = locked.call_ext("HSET", &opts, args.as_slice());
    match r {
        Err(e) => Err(CdcError::setup(format!(
            "cannot write the offset hash {offset_key}: {}",
            e.to_utf8_string().unwrap_or_default()
        ))),
        Ok(_) => Ok(()),
    }
}

/// Set one field of the offset hash (replicated), e.g. [`MIRROR_FIELD`].
pub fn set_field(
    offset_key: &str,
    field: &str,
    value: &str,
    shutdown: &AtomicBool,
) -> Result<(), CdcError> {
    let ctx = DetachedCtx::new().ok_or_else(|| CdcError::retry("no thread-safe context".into()))?;
    let locked = lock_writable(&ctx, shutdown)?;
    let opts = CallOptionsBuilder::new()
        .replicate()
        .errors_as_replies()
        .build();
    let r: CallResult = locked.call_ext("HSET", &opts, &[offset_key, field, value]);
    r.map(|_| ()).map_err(|e| {
        CdcError::setup(format!(
            "cannot write the offset hash {offset_key}: {}",
            e.to_utf8_string().unwrap_or_default()
        ))
    })
}

/// Whether this server knows the command `name` (a module's, e.g. `JSON.SET`).
pub fn has_command(name: &str, shutdown: &AtomicBool) -> Result<bool, CdcError> {
    Ok(crate::ffi::thread_ctx::command_known(&call_once(
        "COMMAND",
        &["INFO", name],
        shutdown,
    )?))
}

/// A warning when Redis's `maxmemory-policy` may evict the module's keys (the offset hash, the
/// streams; they have no TTL, so only `allkeys-*` policies reach them).
pub fn eviction_warning(shutdown: &AtomicBool) -> Result<Option<String>, CdcError> {
    let policy = match call_once("CONFIG", &["GET", "maxmemory-policy"], shutdown)? {
        Ok(redis_module::RedisValue::Array(v)) => v.into_iter().nth(1).map(redis_value_string),
        _ => None,
    };
    Ok(policy.filter(|p| p.starts_with("allkeys-")).map(|p| {
        format!(
            "maxmemory-policy {p} can evict the module's keys (its position, schema history and streams): a lost position means a new snapshot, lost entries a stream that no longer replays to its table; CONFIG SET maxmemory-policy noeviction (or a volatile-* policy: the module's keys have no TTL)"
        )
    }))
}

/// Whether any of `keys` exists (one EXISTS per key: in a cluster they hash to different slots).
pub fn any_exists(keys: &[String], shutdown: &AtomicBool) -> Result<bool, CdcError> {
    for key in keys {
        match call_once("EXISTS", &[key.as_str()], shutdown)? {
            Ok(redis_module::RedisValue::Integer(n)) if n > 0 => return Ok(true),
            Ok(_) => {}
            Err(e) => return Err(CdcError::setup(format!("cannot check {key}: {e}"))),
        }
    }
    Ok(false)
}

/// One command under the Redis lock, taken and released for it.
fn call_once(
    command: &str,
    args: &[&str],
    shutdown: &AtomicBool,
) -> Result<redis_module::RedisResult, CdcError> {
    let ctx = DetachedCtx::new().ok_or_else(|| CdcError::retry("no thread-safe context".into()))?;
    let locked = lock(&ctx, shutdown)?;
    Ok(locked.call(command, args))
}

/// Take the Redis lock by try-locking (unload holds it while it waits for us to stop).
fn lock<'a>(ctx: &'a DetachedCtx, shutdown: &AtomicBool) -> Result<Locked<'a>, CdcError> {
    loop {
        if shutdown.load(Ordering::SeqCst) {
            return Err(CdcError::retry("shutting down".into()));
        }
        if let Some(l) = ctx.try_lock() {
            return Ok(l);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The Redis lock at a moment writes are not paused (CLIENT PAUSE, FAILOVER: a write would
/// abort redis-server; `thread_ctx::writes_paused`), for a write.
fn lock_writable<'a>(ctx: &'a DetachedCtx, shutdown: &AtomicBool) -> Result<Locked<'a>, CdcError> {
    loop {
        let locked = lock(ctx, shutdown)?;
        if !crate::ffi::thread_ctx::writes_paused() {
            return Ok(locked);
        }
        drop(locked);
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn redis_value_string(v: redis_module::RedisValue) -> String {
    match v {
        redis_module::RedisValue::Integer(i) => i.to_string(),
        v => reply_text(&v).unwrap_or_default(),
    }
}

/// The text of a string reply of `RM_Call` (lossy UTF-8); None for nil and other types.
pub fn reply_text(v: &redis_module::RedisValue) -> Option<String> {
    use redis_module::RedisValue as V;
    match v {
        V::SimpleString(s) | V::BulkString(s) => Some(s.clone()),
        V::SimpleStringStatic(s) => Some(s.to_string()),
        V::BulkRedisString(s) => Some(s.to_string_lossy()),
        V::StringBuffer(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

/// What a cluster node starts from besides its own offset hash (docs/cluster.md).
pub struct ClusterStored {
    /// The slots this node serves (as a primary) now.
    pub slots: SlotSet,
    /// This node's own offset hash (`<offset-key>{n<i>}`, a tag of the lowest slot it serves,
    /// so that a promoted replica finds it under the same name); None when it serves no slot.
    pub node_key: Option<String>,
    /// The slots the node's offset hash was last written for ([`SLOTS_FIELD`]).
    pub stored_slots: SlotSet,
    /// The per-table positions (`<offset-key>:{db.table}`) of the tables of those slots.
    pub positions: HashMap<String, Checkpoint>,
}

/// Offset hash field (cluster mode): the slots the node served when it wrote the hash, so that
/// a table whose slot it did not serve then is known to resume from its own position.
pub const SLOTS_FIELD: &str = "slots";

/// Read the slots this node serves, its offset hash's name and slots, and the positions of the
/// `captured` tables of those slots, under one lock (a look-up per table: no SCAN of the
/// keyspace, which the mirror may make large).
pub fn load_cluster(
    offset_key: &str,
    captured: &[String],
    shutdown: &AtomicBool,
) -> Result<ClusterStored, CdcError> {
    let ctx = DetachedCtx::new().ok_or_else(|| CdcError::retry("no thread-safe context".into()))?;
    let locked = lock(&ctx, shutdown)?;
    let slots = crate::cluster::my_slots(&locked).map_err(CdcError::retry)?;
    let Some(first) = slots.first() else {
        return Ok(ClusterStored {
            slots,
            node_key: None,
            stored_slots: SlotSet::default(),
            positions: HashMap::new(),
        });
    };
    let node_key = format!("{offset_key}{}", cluster::tag_for_slot(first));
    let stored_slots = match locked.call("HGET", &[node_key.as_str(), SLOTS_FIELD]) {
        Ok(v) => parse_slot_ranges(&reply_text(&v).unwrap_or_default()),
        Err(e) => {
            return Err(CdcError::setup(format!(
                "cannot read the hash {node_key}: {e}"
            )))
        }
    };
    let mut positions = HashMap::new();
    for table in captured {
        if !slots.contains(cluster::table_slot(table)) {
            continue;
        }
        let key = cluster::position_key(offset_key, table);
        let pairs = hash_pairs(locked.call("HGETALL", &[key.as_str()]), &key)?;
        let get = |k: &str| pairs.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
        match Checkpoint::from_fields(get) {
            Ok(Some(cp)) => {
                positions.insert(table.to_string(), cp);
            }
            Ok(None) => {}
            Err(e) => {
                return Err(CdcError::setup(format!(
                    "{e} (in {key}): fix or DEL the key"
                )))
            }
        }
    }
    Ok(ClusterStored {
        slots,
        node_key: Some(node_key),
        stored_slots,
        positions,
    })
}

/// Entries read at a time (each page under its own lock hold) looking back through a stream
/// for its last binlog change.
const TAIL_PAGE: usize = 500;

/// The last binlog change in the stream `key` (cluster mode, a table without a position:
/// docs/cluster.md): the latest `pos` of the last entries, read back from the end page by page
/// until a page holds a binlog change (a re-read's entries name none). None when the stream
/// is missing or holds no binlog change.
pub fn last_entry(key: &str, shutdown: &AtomicBool) -> Result<Option<LastEntry>, CdcError> {
    let count = TAIL_PAGE.to_string();
    let mut end = "+".to_string();
    loop {
        let reply = call_once("XREVRANGE", &[key, &end, "-", "COUNT", &count], shutdown)?;
        let entries = match reply {
            Ok(redis_module::RedisValue::Array(v)) => v,
            Ok(_) => return Ok(None),
            Err(e) => {
                return Err(CdcError::setup(format!(
                    "cannot read the stream {key}: {e}"
                )))
            }
        };
        let page = entries.len();
        let from = end.clone();
        let mut found: Option<LastEntry> = None;
        for entry in entries {
            let redis_module::RedisValue::Array(parts) = entry else {
                continue;
            };
            let [id, redis_module::RedisValue::Array(fields)] = <[_; 2]>::try_from(parts)
                .unwrap_or([
                    redis_module::RedisValue::Null,
                    redis_module::RedisValue::Null,
                ])
            else {
                continue;
            };
            if let Some(id) = reply_text(&id) {
                end = format!("({id}");
            }
            let fields: Vec<String> = fields.into_iter().map(redis_value_string).collect();
            let get = |k: &str| {
                fields
                    .chunks_exact(2)
                    .find(|c| c[0] == k)
                    .map(|c| c[1].as_str())
            };
            if let Some(e) = LastEntry::of_fields(get) {
                found = Some(match found {
                    Some(f) => f.later(e),
                    None => e,
                });
            }
        }
        if found.is_some() || page < TAIL_PAGE || end == from {
            return Ok(found);
        }
    }
}

/// `0-5460,11000` (as [`SlotSet::ranges`] writes it) back to a set; bad parts are ignored.
pub fn parse_slot_ranges(s: &str) -> SlotSet {
    let mut set = SlotSet::default();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
            for s in a..=b.min(cluster::SLOTS as u16 - 1) {
                set.insert(s);
            }
        }
    }
    set
}
