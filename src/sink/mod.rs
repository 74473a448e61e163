//! The writer: appends prepared entries and the position to Redis, one atomic unit per batch.
//!
//! Everything here runs on the writer thread. It takes the thread-safe-context lock once per
//! batch of whole transactions (or chunks of a large one). Under it, the entries go to their
//! streams through the low-level stream API and are propagated one by one as
//! `XADD key <assigned id> ...` (`streams`), then the checkpoint is written with HSET through
//! `RM_Call` with the `!` flag, which propagates it too. Redis wraps what one lock acquisition
//! propagates in MULTI/EXEC, so the AOF and replicas see the entries and the position covering
//! them together or not at all (docs/events.md). Everything that needs no lock (turning entries
//! into Redis strings) happens before the lock is taken.

mod mirror;
pub mod offsets;

pub use mirror::count_key as mirror_count_key;
mod streams;

use crate::ffi::thread_ctx::{self, DetachedCtx, Locked};
use crate::state_event::StateEvent;
use crate::status::STATUS;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use redis_cdc_core::cluster::{self, SlotSet};
use redis_cdc_core::model::batch::{Batch, Entry, XaOp};
use redis_cdc_core::model::name::table_name;
use redis_cdc_core::schema::{parse_shape, primary_key_of};
use redis_module::{CallOptionsBuilder, CallResult, Context, ContextFlags, RedisValue};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Bytes of entries handed to the writer and not written yet. The channel bounds the batches
/// in flight; this bounds their bytes too, so that large rows (BLOBs, long JSON) cannot make
/// the module's memory grow with their size times the channel's length.
pub const MAX_BYTES_IN_FLIGHT: usize = 64 << 20;

/// Number of batches the channel to the writer holds.
const CHANNEL_BATCHES: usize = 64;

#[derive(Default)]
struct InFlight {
    /// (bytes in flight, the writer has gone)
    state: Mutex<(usize, bool)>,
    released: Condvar,
}

impl InFlight {
    fn lock(&self) -> MutexGuard<'_, (usize, bool)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn release(&self, bytes: usize) {
        let mut g = self.lock();
        g.0 = g.0.saturating_sub(bytes);
        self.released.notify_all();
    }

    fn close(&self) {
        self.lock().1 = true;
        self.released.notify_all();
    }
}

/// The writer is gone: the batch was not sent.
#[derive(Debug)]
pub struct WriterGone;

/// The reader's and the snapshot's end of the channel to the writer.
#[derive(Clone)]
pub struct BatchSender {
    tx: Sender<Queued>,
    in_flight: Arc<InFlight>,
}

/// A batch in the channel, with its size counted once, by the sender.
struct Queued {
    batch: Batch,
    /// [`Batch::bytes`].
    bytes: usize,
    /// [`writes`].
    writes: usize,
}

impl BatchSender {
    /// Send a batch, waiting while the channel is full or holds [`MAX_BYTES_IN_FLIGHT`]
    /// (a batch larger than that alone still goes, once the channel has drained).
    pub fn send(&self, batch: Batch) -> Result<(), WriterGone> {
        let bytes = batch.bytes();
        let writes = writes(&batch);
        {
            let mut g = self.in_flight.lock();
            while !g.1 && g.0 > 0 && g.0 + bytes > MAX_BYTES_IN_FLIGHT {
                g = self
                    .in_flight
                    .released
                    .wait(g)
                    .unwrap_or_else(|p| p.into_inner());
            }
            if g.1 {
                return Err(WriterGone);
            }
            g.0 += bytes;
        }
        self.tx
            .send(Queued {
                batch,
                bytes,
                writes,
            })
            .map_err(|_| WriterGone)
    }
}

/// The writer's end of the channel; dropping it fails the senders' waits.
pub struct BatchReceiver {
    rx: Receiver<Queued>,
    in_flight: Arc<InFlight>,
}

impl BatchReceiver {
    #[cfg(test)]
    pub fn try_recv(&self) -> Option<Batch> {
        self.rx.try_recv().ok().map(|q| q.batch)
    }
}

impl Drop for BatchReceiver {
    fn drop(&mut self) {
        self.in_flight.close();
    }
}

/// The channel from the reader and the snapshot to the writer.
pub fn channel() -> (BatchSender, BatchReceiver) {
    let (tx, rx) = crossbeam_channel::bounded(CHANNEL_BATCHES);
    let in_flight = Arc::new(InFlight::default());
    (
        BatchSender {
            tx,
            in_flight: in_flight.clone(),
        },
        BatchReceiver { rx, in_flight },
    )
}

/// The work one lock hold aims at: about 1 ms, so that holds stay under the 2 ms the README
/// promises while each AOF write and fsync of the main thread covers as many entries as that
/// allows (group commit). The number of writes per hold follows from the measured cost of a
/// write ([`HoldSizer`]); a single batch larger than that (a snapshot's batch of 256 rows, a
/// transaction's chunk) is still written whole.
const HOLD_BUDGET_NS: f64 = 1_000_000.0;

/// Bounds of the writes per hold, whatever the measured cost says.
const MIN_WRITES_PER_LOCK: usize = 32;
const MAX_WRITES_PER_LOCK: usize = 4096;

/// Sizes lock holds by time: the cost of a write is measured on every hold of enough writes
/// (an exponential average), and a hold takes as many writes as fit in [`HOLD_BUDGET_NS`].
struct HoldSizer {
    ns_per_write: f64,
}

impl HoldSizer {
    fn new() -> HoldSizer {
        // ~1.6 µs a write, measured on a 2-core machine: about 600 writes per hold to start.
        HoldSizer {
            ns_per_write: 1_600.0,
        }
    }

    fn limit(&self) -> usize {
        ((HOLD_BUDGET_NS / self.ns_per_write.max(1.0)) as usize)
            .clamp(MIN_WRITES_PER_LOCK, MAX_WRITES_PER_LOCK)
    }

    /// A hold of `writes` writes lasted `held_us`.
    fn observe(&mut self, writes: usize, held_us: u64) {
        if writes < MIN_WRITES_PER_LOCK {
            return;
        }
        let ns = held_us as f64 * 1_000.0 / writes as f64;
        self.ns_per_write = 0.8 * self.ns_per_write + 0.2 * ns;
    }
}

/// Between two tries of the Redis lock: yield at first (the main thread usually releases it
/// within microseconds), then sleep briefly.
fn back_off(spins: &mut u32) {
    *spins += 1;
    if *spins < 50 {
        std::thread::yield_now();
    } else {
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// The writes a batch makes, for [`HoldSizer`]: a stream entry and a mirror write
/// cost about the same lock time, so an entry with both counts twice.
fn writes(b: &Batch) -> usize {
    b.entries
        .iter()
        .map(|e| usize::from(!e.fields.is_empty()) + usize::from(e.mirror.is_some()))
        .sum()
}

/// Most bytes of entries appended under one lock acquisition: with large rows, copying them
/// (stream, AOF) is what takes the time. A single larger batch is still written whole.
const MAX_BYTES_PER_LOCK: usize = 1 << 20;

/// While catching up, how often the main thread is woken to write the AOF and serve clients
/// blocked on the streams (it also wakes for any client request and its own timers).
const WAKE_EVERY: Duration = Duration::from_millis(10);

/// Why the writer stopped.
#[derive(Debug)]
pub enum WriterExit {
    /// The channel closed or a stop was requested.
    Stopped,
    /// This Redis became a replica: never write (the primary's entries arrive by replication).
    Replica,
    /// Redis refused a write.
    Failed(String),
    /// The offset key is gone (DEL, FLUSHALL, eviction) since the session stored it: the
    /// position is lost, so the session starts anew (docs/snapshot.md).
    OffsetGone,
    /// Cluster mode: the slots this node serves changed (resharding, failover): the session
    /// starts again, so that each table it now serves resumes from its own position.
    SlotsMoved,
}

/// Batches gathered for one lock hold, with their Redis strings made.
struct Hold {
    batches: Vec<Batch>,
    prepared: streams::Prepared,
    mirrored: mirror::Prepared,
    /// The deletions of table keys done before the hold ([`mirror::plan_sweeps`]).
    sweeps: Vec<mirror::Sweep>,
    /// Their writes ([`writes`]) and bytes (released from the in-flight count once written).
    count: usize,
    bytes: usize,
}

impl Hold {
    /// Everything that needs no lock (the entries an XA batch holds go to its hold key, not
    /// to their streams: their strings are made at its release).
    /// `owned`: whether this node writes the entry (cluster mode: the slot of its table is
    /// served here); the bytes count every entry, as the in-flight count did.
    fn prepare(
        queued: Vec<Queued>,
        names: &mut streams::FieldNames,
        mirror: &mut mirror::MirrorCache,
        owned: impl Fn(&Entry) -> bool,
    ) -> Result<Hold, String> {
        let mut bytes = 0;
        let mut count = 0;
        let mut batches = Vec::with_capacity(queued.len());
        for mut q in queued {
            bytes += q.bytes;
            let before = q.batch.entries.len();
            q.batch.entries.retain(|e| owned(e));
            count += if q.batch.entries.len() == before {
                q.writes
            } else {
                writes(&q.batch)
            };
            batches.push(q.batch);
        }
        let entries = || {
            batches
                .iter()
                .filter(|b| b.xa.is_none())
                .flat_map(|b| b.entries.iter())
        };
        let prepared = streams::prepare(names, entries())?;
        let mirrored = mirror.prepare(entries())?;
        let sweeps =
            mirror::plan_sweeps(entries().filter_map(|e| e.mirror.as_ref().map(|m| (&e.table, m))));
        Ok(Hold {
            count,
            bytes,
            batches,
            prepared,
            mirrored,
            sweeps,
        })
    }
}

/// Whether the batch clears a table's mirror keys or ends a re-read: it starts a hold, whose
/// deletions of keys are done before it ([`mirror::plan_sweeps`]).
fn sweeps(b: &Batch) -> bool {
    b.xa.is_none() && mirror::sweeps_keys(b.entries.iter().filter_map(|e| e.mirror.as_ref()))
}

/// `first` and the batches waiting after it, up to `limit` writes or [`MAX_BYTES_PER_LOCK`]; a
/// batch of a prepared XA transaction is written alone (its entries go elsewhere), and a batch
/// that [`sweeps`] starts a hold. The batch that would have gone over is kept in `carry` for
/// the next hold.
fn gather(
    rx: &Receiver<Queued>,
    carry: &mut Option<Queued>,
    first: Queued,
    limit: usize,
) -> Vec<Queued> {
    let alone = first.batch.xa.is_some();
    let mut count = first.writes;
    let mut bytes = first.bytes;
    let mut batches = vec![first];
    while !alone && count < limit && bytes < MAX_BYTES_PER_LOCK {
        let Ok(q) = rx.try_recv() else {
            break;
        };
        if q.batch.xa.is_some()
            || count + q.writes > limit
            || bytes + q.bytes > MAX_BYTES_PER_LOCK
            || sweeps(&q.batch)
        {
            *carry = Some(q);
            break;
        }
        count += q.writes;
        bytes += q.bytes;
        batches.push(q);
    }
    batches
}

/// The writer's part of cluster mode (docs/cluster.md).
pub struct WriterCluster {
    /// The slots the session started with: entries of other slots are not written, and any
    /// change of them ends the session ([`WriterExit::SlotsMoved`]).
    pub slots: SlotSet,
    /// `cdc.offset-key` as configured: the per-table positions are `<it>:{db.table}`.
    pub offset_key: String,
}

/// What the writer finds in the slot map before a batch.
enum SlotCheck {
    /// The slots of the session: write.
    Same,
    /// The cluster is down (Redis refuses key commands): wait.
    Down,
    /// The session ends so.
    Changed(WriterExit),
}

/// How often an idle writer in cluster mode looks at the slot map.
const SLOT_CHECK_IDLE: Duration = Duration::from_secs(1);

pub struct Writer {
    pub offset_key: String,
    pub stream_maxlen: u64,
    pub max_memory_ratio: f32,
    pub stop: Arc<AtomicBool>,
    /// Set while Redis memory is above `cdc.max-memory-percent`; the reader waits on it.
    pub backpressure: Arc<AtomicBool>,
    /// Tells the supervisor when memory crosses the limit (it sets the state).
    pub events: crate::state_event::StateEvents,
    /// Re-reads for the snapshot thread: those an XA hold kept across a restart, due at its
    /// XA COMMIT.
    pub rereads: Sender<Vec<String>>,
    /// What an XA COMMIT whose PREPARE the module never saw re-reads: every captured table
    /// (None with `cdc.snapshot never`, which reads no table the user did not ask for).
    pub unseen_xa_rereads: Option<Vec<String>>,
    /// Cluster mode (None outside it).
    pub cluster: Option<WriterCluster>,
}

impl Writer {
    pub fn run(&self, channel: BatchReceiver) -> WriterExit {
        let rx = &channel.rx;
        let Some(tsc) = DetachedCtx::new() else {
            return WriterExit::Failed("no thread-safe context".into());
        };
        // A batch received that would have made the lock hold too long: first of the next round.
        let mut carry: Option<Queued> = None;
        // The hold after this one, gathered and prepared while waiting for the lock.
        let mut next: Option<Hold> = None;
        let mut last_wake = Instant::now();
        let mut names = streams::FieldNames::default();
        let mut mirror = mirror::MirrorCache::default();
        let mut sizer = HoldSizer::new();
        // The first write of the session proves the pipeline works again: last_error goes.
        let mut recovered = false;
        let mut slots_checked = Instant::now();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return WriterExit::Stopped;
            }
            let hold = match next.take() {
                Some(h) => h,
                None => {
                    let first = match carry.take() {
                        Some(b) => b,
                        None => {
                            let idle = Instant::now();
                            let got = rx.recv_timeout(Duration::from_millis(100));
                            STATUS
                                .writer_idle_us
                                .fetch_add(idle.elapsed().as_micros() as u64, Ordering::Relaxed);
                            match got {
                                Ok(b) => b,
                                Err(RecvTimeoutError::Timeout) => {
                                    if self.cluster.is_some()
                                        && slots_checked.elapsed() >= SLOT_CHECK_IDLE
                                    {
                                        slots_checked = Instant::now();
                                        let Some(ctx) = self.lock(&tsc) else {
                                            return WriterExit::Stopped;
                                        };
                                        if let SlotCheck::Changed(exit) = self.check_slots(&ctx) {
                                            return exit;
                                        }
                                    }
                                    if self.backpressure.load(Ordering::Relaxed) {
                                        // Re-check memory so that the reader can resume.
                                        let Some(ctx) = self.lock(&tsc) else {
                                            return WriterExit::Stopped;
                                        };
                                        self.check_memory(&ctx);
                                    }
                                    continue;
                                }
                                Err(RecvTimeoutError::Disconnected) => return WriterExit::Stopped,
                            }
                        }
                    };
                    let batches = gather(rx, &mut carry, first, sizer.limit());
                    match Hold::prepare(batches, &mut names, &mut mirror, |e| self.owned(e)) {
                        Ok(h) => h,
                        Err(e) => return WriterExit::Failed(e),
                    }
                }
            };
            let Hold {
                batches: pending,
                mut prepared,
                mut mirrored,
                sweeps,
                count,
                bytes,
            } = hold;
            // Over cdc.max-memory-percent the reader stops, but the channel may still hold many
            // batches (a large transaction read ahead): hold them until memory drops instead of
            // writing them all past the limit towards OOM.
            while self.backpressure.load(Ordering::Relaxed) {
                let Some(ctx) = self.lock(&tsc) else {
                    return WriterExit::Stopped;
                };
                self.check_memory(&ctx);
                drop(ctx);
                if self.backpressure.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            // (After the wait for memory: the hold follows the sweep at once.)
            // A table's keys to delete (TRUNCATE, DROP, a re-read's end) are found by a SCAN
            // of the keyspace: done now, in holds of their own, not in one long hold.
            let mut swept = HashSet::new();
            for s in &sweeps {
                match self.sweep(&tsc, &mut mirror, s) {
                    Ok(true) => {
                        swept.insert(s.pattern.clone());
                    }
                    Ok(false) => {}
                    Err(exit) => return exit,
                }
                last_wake = Instant::now();
            }
            // While the main thread holds the lock (writing and syncing the AOF, serving
            // clients), the next hold is gathered and its strings made: that work is off the
            // path from one hold to the next.
            let waiting = Instant::now();
            let mut preparing = Duration::ZERO;
            let mut spins = 0u32;
            let ctx = loop {
                if self.stop.load(Ordering::Relaxed) {
                    return WriterExit::Stopped;
                }
                if let Some(g) = tsc.try_lock() {
                    match self.writable(&g) {
                        Ok(true) => break g,
                        Ok(false) => {
                            drop(g);
                            std::thread::sleep(Duration::from_millis(100));
                            continue;
                        }
                        Err(exit) => return exit,
                    }
                }
                if next.is_none() && !self.backpressure.load(Ordering::Relaxed) {
                    if let Some(first) = carry.take().or_else(|| rx.try_recv().ok()) {
                        let t = Instant::now();
                        let batches = gather(rx, &mut carry, first, sizer.limit());
                        match Hold::prepare(batches, &mut names, &mut mirror, |e| self.owned(e)) {
                            Ok(h) => next = Some(h),
                            Err(e) => return WriterExit::Failed(e),
                        }
                        preparing += t.elapsed();
                        continue;
                    }
                }
                back_off(&mut spins);
            };
            STATUS.lock_wait_us.fetch_add(
                waiting.elapsed().saturating_sub(preparing).as_micros() as u64,
                Ordering::Relaxed,
            );
            let started = Instant::now();
            let cpu_started = crate::ffi::os::thread_cpu_us();
            slots_checked = Instant::now();
            let mut released = None;
            let mut due = Vec::new();
            let result = match pending
                .first()
                .and_then(|b| b.xa.as_ref().map(|op| (b, op)))
            {
                Some((b, op)) => self
                    .write_xa(&ctx, &mut names, &mut mirror, b, op, &mut due)
                    .map(|r| released = Some(r)),
                None => self.write(
                    &ctx,
                    &mut prepared,
                    &mut mirror,
                    &mut mirrored,
                    &pending,
                    &swept,
                ),
            };
            self.check_memory(&ctx);
            drop(ctx);
            // Entries released from an XA hold: freed after the lock too, then counted.
            let released = released.map(|(entries, strings)| {
                drop(strings);
                entries
            });
            let held = started.elapsed().as_micros() as u64;
            let held_cpu = crate::ffi::os::thread_cpu_us().saturating_sub(cpu_started);
            sizer.observe(count, held);
            // Propagation released its references at unlock: the values are ours alone again.
            drop(prepared);
            drop(mirrored);
            STATUS.record_lock_hold(held, held_cpu);
            // Wake the main thread when this batch is the last one waiting (live traffic: it
            // serves XREAD BLOCK clients and the AOF at once), and at least every WAKE_EVERY
            // while catching up. Waking it after every batch made each batch wait for an AOF
            // fsync (appendfsync always) before the next lock: ~30k entries/s at most.
            if (rx.is_empty() && carry.is_none() && next.is_none())
                || last_wake.elapsed() >= WAKE_EVERY
            {
                thread_ctx::wake_event_loop();
                last_wake = Instant::now();
            }
            if result.is_ok() && !due.is_empty() {
                let _ = self.rereads.send(due);
            }
            match result {
                Ok(()) => {
                    if !recovered {
                        STATUS.clear_error();
                        recovered = true;
                    }
                    // `bytes` is what `pending` holds (counted as it was gathered).
                    channel.in_flight.release(bytes);
                    self.account(&pending, released.as_deref().unwrap_or_default());
                    STATUS
                        .batches_written
                        .fetch_add(pending.len() as u64, Ordering::Relaxed);
                }
                Err(e) => return WriterExit::Failed(e),
            }
        }
    }

    /// Delete the table keys `s` asks for, in lock holds of about [`HOLD_BUDGET_NS`] each,
    /// waking the main thread after each so that it serves clients between them. Nothing else
    /// is written meanwhile, so no key of a later change is deleted. Ok(false): nothing to
    /// sweep (the marker does nothing either). The deletions are idempotent: if the writer
    /// stops half-way, the marker's batch comes again and the sweep starts over.
    fn sweep(
        &self,
        tsc: &DetachedCtx,
        cache: &mut mirror::MirrorCache,
        s: &mirror::Sweep,
    ) -> Result<bool, WriterExit> {
        let budget = Duration::from_nanos(HOLD_BUDGET_NS as u64);
        let mut cursor = "0".to_string();
        let mut first = true;
        loop {
            let Some(ctx) = self.lock(tsc) else {
                return Err(WriterExit::Stopped);
            };
            if !self.writable(&ctx)? {
                drop(ctx);
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            let started = Instant::now();
            let cpu_started = crate::ffi::os::thread_cpu_us();
            let step = if first {
                first = false;
                cache.sweep_applies(&ctx, &self.offset_key, s)
            } else {
                Ok(true)
            }
            .and_then(|applies| {
                if !applies {
                    return Ok(None);
                }
                mirror::sweep_step(&ctx, &self.offset_key, s, &mut cursor, budget).map(Some)
            });
            drop(ctx);
            let held = started.elapsed().as_micros() as u64;
            STATUS.record_lock_hold(
                held,
                crate::ffi::os::thread_cpu_us().saturating_sub(cpu_started),
            );
            thread_ctx::wake_event_loop();
            match step {
                Ok(None) => return Ok(false),
                Ok(Some(true)) => return Ok(true),
                Ok(Some(false)) => {}
                Err(e) => return Err(WriterExit::Failed(e)),
            }
        }
    }

    /// Under the lock, before a hold writes: whether it may write now (false: writes are
    /// paused, or the cluster is down, and Redis refuses every key command of a module
    /// meanwhile: wait, keeping the hold, rather than write entries without their position),
    /// or why the session ends (a replica
    /// now, the slots moved, the offset key deleted: writing would re-create it as if nothing
    /// happened).
    fn writable(&self, ctx: &Context) -> Result<bool, WriterExit> {
        if ctx.get_flags().contains(ContextFlags::SLAVE) {
            return Err(WriterExit::Replica);
        }
        // Writes paused (CLIENT PAUSE, FAILOVER): wait with the hold, as clients wait with
        // their commands (a write now would abort redis-server).
        if thread_ctx::writes_paused() {
            return Ok(false);
        }
        match self.check_slots(ctx) {
            SlotCheck::Same => {}
            SlotCheck::Down => return Ok(false),
            SlotCheck::Changed(exit) => return Err(exit),
        }
        match streams::offset_key_exists(ctx, &self.offset_key) {
            Ok(true) => Ok(true),
            Ok(false) => Err(WriterExit::OffsetGone),
            Err(e) => Err(WriterExit::Failed(e)),
        }
    }

    /// Cluster mode: this node serves the slot of `e`'s stream (always true outside it).
    fn owned(&self, e: &Entry) -> bool {
        self.cluster
            .as_ref()
            .is_none_or(|c| c.slots.contains(cluster::key_slot(e.stream.as_bytes())))
    }

    /// Cluster mode, under the lock: whether this node serves the slots the session started
    /// with, and the cluster is up (always [`SlotCheck::Same`] outside cluster mode).
    fn check_slots(&self, ctx: &Context) -> SlotCheck {
        let Some(c) = &self.cluster else {
            return SlotCheck::Same;
        };
        match crate::cluster::is_up(ctx) {
            Ok(true) => {}
            Ok(false) => return SlotCheck::Down,
            Err(e) => return SlotCheck::Changed(WriterExit::Failed(e)),
        }
        match crate::cluster::my_slots(ctx) {
            Ok(now) if now == c.slots => SlotCheck::Same,
            Ok(now) => {
                log::info!(
                    "the slots this node serves changed (from {} to {}): restarting, so that each table resumes from its own position",
                    c.slots.ranges(),
                    now.ranges()
                );
                SlotCheck::Changed(WriterExit::SlotsMoved)
            }
            Err(e) => SlotCheck::Changed(WriterExit::Failed(e)),
        }
    }

    /// Take the Redis lock, giving up when a stop is requested (so that unload never waits on
    /// a writer that waits on the lock unload holds).
    fn lock<'a>(&self, tsc: &'a DetachedCtx) -> Option<Locked<'a>> {
        let waiting = Instant::now();
        let got = self.lock_inner(tsc);
        STATUS
            .lock_wait_us
            .fetch_add(waiting.elapsed().as_micros() as u64, Ordering::Relaxed);
        got
    }

    fn lock_inner<'a>(&self, tsc: &'a DetachedCtx) -> Option<Locked<'a>> {
        let mut spins = 0u32;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            if let Some(g) = tsc.try_lock() {
                return Some(g);
            }
            back_off(&mut spins);
        }
    }

    fn write(
        &self,
        ctx: &Context,
        prepared: &mut streams::Prepared,
        cache: &mut mirror::MirrorCache,
        mirrored: &mut mirror::Prepared,
        batches: &[Batch],
        swept: &HashSet<String>,
    ) -> Result<(), String> {
        cache.check(ctx, mirrored)?;
        streams::append(ctx, prepared, self.stream_maxlen, &self.offset_key)?;
        let entries = batches.iter().flat_map(|b| b.entries.iter());
        cache.apply(ctx, &self.offset_key, mirrored, entries, swept)?;
        self.store_checkpoint(ctx, batches, &[], &[])
    }

    /// The key holding the entries of the prepared XA transaction `xid` until its XA COMMIT.
    fn xa_key(&self, xid: &str) -> String {
        format!("{}:xa:{xid}", self.offset_key)
    }

    /// A batch of a prepared XA transaction (docs/events.md), under the lock, with its
    /// checkpoint: hold its entries in a list of their own (`<offset-key>:xa:<xid>`, one JSON
    /// element per entry with its target stream and table; a list, not a stream, so that
    /// consumers looking for streams never read it), append the held entries to their streams
    /// at XA COMMIT, drop them at XA ROLLBACK. Returns the entries released, and their Redis
    /// strings to free after the lock.
    fn write_xa(
        &self,
        ctx: &Context,
        names: &mut streams::FieldNames,
        cache: &mut mirror::MirrorCache,
        batch: &Batch,
        op: &XaOp,
        due: &mut Vec<String>,
    ) -> Result<(Vec<Entry>, Option<streams::Prepared>), String> {
        let opts = CallOptionsBuilder::new()
            .replicate()
            .errors_as_replies()
            .build();
        // The position is written last: a refused offset key must stop before the hold changes,
        // or a retry would hold the same rows twice.
        streams::check_offset_key(ctx, &self.offset_key)?;
        let mut released = (Vec::new(), None);
        match op {
            XaOp::Hold(xid) => {
                let key = self.xa_key(xid);
                // A first element that says whose hold this is, so that the list exists even
                // when the transaction wrote no captured row (then XA COMMIT can tell "held
                // nothing" from "never saw the PREPARE").
                // The re-reads the transaction asked for wait with its rows.
                let header = if batch.rereads.is_empty() {
                    serde_json::json!({ "xa": xid })
                } else {
                    serde_json::json!({ "xa": xid, "reread": batch.rereads })
                }
                .to_string();
                let held: Vec<String> = batch.entries.iter().map(held_text).collect();
                let mut args: Vec<&str> = vec![key.as_str(), header.as_str()];
                args.extend(held.iter().map(String::as_str));
                check(
                    ctx.call_ext("RPUSH", &opts, args.as_slice()),
                    "RPUSH (XA hold)",
                )?;
            }
            XaOp::Release(xid) | XaOp::Discard(xid) => {
                let key = self.xa_key(xid);
                if matches!(op, XaOp::Release(_)) {
                    let (held, rereads) = held_entries(ctx, &key)?;
                    // Re-reads held across a restart (the reader no longer knows them): asked
                    // for now, in this unit, and handed to the snapshot thread after it.
                    due.extend(rereads.into_iter().filter(|t| !batch.rereads.contains(t)));
                    if held.is_none() {
                        // Prepared before the position the module started from: its rows are
                        // in no stream and were not visible to a snapshot. Which tables it
                        // wrote is unknown here: every captured table is re-read.
                        match &self.unseen_xa_rereads {
                            Some(all) => {
                                log::warn!(
                                    "XA COMMIT of {xid} at {}: the module never saw its PREPARE (it was prepared before the position the module started from), so its rows are in no stream: re-reading every captured table",
                                    batch.position
                                );
                                due.extend(all.iter().cloned());
                            }
                            None => log::warn!(
                                "XA COMMIT of {xid} at {}: the module never saw its PREPARE (it was prepared before the position the module started from), so its rows may be missing from the streams; CDC.RESYNC the tables it wrote (cdc.snapshot never: no automatic re-read)",
                                batch.position
                            ),
                        }
                    }
                    let mut held = held.unwrap_or_default();
                    // Held under other slots (before a resharding): another node's now.
                    held.retain(|e| self.owned(e));
                    // The held rows, then what the commit's own group carries (the rest of a
                    // large one-phase XA transaction whose first chunks were held).
                    let all = || held.iter().chain(batch.entries.iter());
                    let mut prepared = streams::prepare(names, all())?;
                    let mut mirrored = cache.prepare(all())?;
                    cache.check(ctx, &mirrored)?;
                    streams::append(ctx, &mut prepared, self.stream_maxlen, &self.offset_key)?;
                    let none = Default::default();
                    cache.apply(ctx, &self.offset_key, &mut mirrored, all(), &none)?;
                    released = (held, Some(prepared));
                }
                check(ctx.call_ext("DEL", &opts, &[key.as_str()]), "DEL (XA hold)")?;
            }
        }
        // The re-reads due at this commit join the others, in the same unit.
        self.store_checkpoint(ctx, std::slice::from_ref(batch), due, &released.0)?;
        Ok(released)
    }

    /// HSET of the last batch's checkpoint (and the newest snapshot progress) in the offset hash,
    /// and the batches' changes to the schema history and re-reads (and the re-reads `due`
    /// besides theirs), in the same atomic unit.
    fn store_checkpoint(
        &self,
        ctx: &Context,
        batches: &[Batch],
        due: &[String],
        released: &[Entry],
    ) -> Result<(), String> {
        let Some(last) = batches.last() else {
            return Ok(());
        };
        let opts = CallOptionsBuilder::new()
            .replicate()
            .errors_as_replies()
            .build();
        self.store_shapes(ctx, &opts, batches)?;
        self.store_rereads(ctx, &opts, batches, due)?;
        let fields = last.checkpoint.to_fields();
        let mut hargs: Vec<&[u8]> = vec![self.offset_key.as_bytes()];
        for (k, v) in &fields {
            hargs.push(k.as_bytes());
            hargs.push(v.as_bytes());
        }
        // The newest snapshot progress among the batches goes with them (a binlog batch after a
        // chunk's batch carries none and must not lose it).
        if let Some(snap) = batches.iter().rev().find_map(|b| b.snapshot.as_deref()) {
            hargs.push(redis_cdc_core::model::position::SNAPSHOT_FIELD.as_bytes());
            hargs.push(snap.as_bytes());
        }
        let slots = self.cluster.as_ref().map(|c| c.slots.ranges());
        if let Some(slots) = &slots {
            hargs.push(offsets::SLOTS_FIELD.as_bytes());
            hargs.push(slots.as_bytes());
        }
        let r: CallResult = ctx.call_ext("HSET", &opts, hargs.as_slice());
        check(r, "HSET")?;
        if let Some(c) = &self.cluster {
            self.store_table_positions(ctx, &opts, c, batches, released, &fields)?;
        }
        Ok(())
    }

    /// Cluster mode: each table written in this unit gets the unit's checkpoint as its own
    /// position (`<offset-key>:{db.table}`): everything of it up to there is in its stream, so
    /// the node that serves its slot next resumes it from there (docs/cluster.md).
    fn store_table_positions(
        &self,
        ctx: &Context,
        opts: &redis_module::CallOptions,
        c: &WriterCluster,
        batches: &[Batch],
        released: &[Entry],
        fields: &[(&'static str, String)],
    ) -> Result<(), String> {
        let written = batches
            .iter()
            .filter(|b| !matches!(b.xa, Some(XaOp::Hold(_))))
            .flat_map(|b| b.entries.iter())
            .chain(released);
        let mut tables: std::collections::BTreeSet<&str> = Default::default();
        for e in written {
            if !e.table.is_empty() {
                tables.insert(&e.table);
            }
        }
        for table in tables {
            let key = cluster::position_key(&c.offset_key, table);
            let mut args: Vec<&str> = vec![&key];
            for (k, v) in fields {
                args.push(k);
                args.push(v);
            }
            check(
                ctx.call_ext("HSET", opts, args.as_slice()),
                "HSET (table position)",
            )?;
        }
        Ok(())
    }

    /// The batches' schema history changes (the last change of a table wins): one HSET of the
    /// shapes set, one HDEL of those removed.
    fn store_shapes(
        &self,
        ctx: &Context,
        opts: &redis_module::CallOptions,
        batches: &[Batch],
    ) -> Result<(), String> {
        let mut last: std::collections::BTreeMap<&str, Option<&str>> = Default::default();
        for change in batches.iter().flat_map(|b| b.shapes.iter()) {
            last.insert(&change.field, change.value.as_deref());
        }
        if last.is_empty() {
            return Ok(());
        }
        let key = offsets::schema_key(&self.offset_key);
        let mut set: Vec<&str> = vec![&key];
        let mut del: Vec<&str> = vec![&key];
        for (field, value) in last {
            match value {
                Some(v) => set.extend([field, v]),
                None => del.push(field),
            }
        }
        if set.len() > 1 {
            check(
                ctx.call_ext("HSET", opts, set.as_slice()),
                "HSET (schema history)",
            )?;
        }
        if del.len() > 1 {
            check(
                ctx.call_ext("HDEL", opts, del.as_slice()),
                "HDEL (schema history)",
            )?;
        }
        Ok(())
    }

    /// The re-reads the batches' transactions asked for (and `due`) join `<offset-key>:reread`;
    /// those a snapshot's progress now holds in its stored queue leave it (docs/snapshot.md).
    fn store_rereads(
        &self,
        ctx: &Context,
        opts: &redis_module::CallOptions,
        batches: &[Batch],
        due: &[String],
    ) -> Result<(), String> {
        let key = offsets::reread_key(&self.offset_key);
        // In order: true = asked for, false = queued for good by a snapshot.
        let mut net: std::collections::BTreeMap<&str, bool> =
            due.iter().map(|t| (t.as_str(), true)).collect();
        for b in batches {
            // A prepared XA transaction's re-reads wait in its hold until its commit.
            let held = matches!(b.xa, Some(XaOp::Hold(_)));
            for t in b.rereads.iter().filter(|_| !held) {
                net.insert(t, true);
            }
            for t in &b.rereads_queued {
                net.insert(t, false);
            }
        }
        let add: Vec<&str> = net.iter().filter(|(_, a)| **a).map(|(t, _)| *t).collect();
        let drop: Vec<&str> = net.iter().filter(|(_, a)| !**a).map(|(t, _)| *t).collect();
        if !add.is_empty() {
            let mut args = vec![key.as_str()];
            args.extend(add);
            check(
                ctx.call_ext("SADD", opts, args.as_slice()),
                "SADD (re-reads)",
            )?;
        }
        if !drop.is_empty() {
            let mut args = vec![key.as_str()];
            args.extend(drop);
            check(
                ctx.call_ext("SREM", opts, args.as_slice()),
                "SREM (re-reads)",
            )?;
        }
        Ok(())
    }

    fn check_memory(&self, ctx: &Context) {
        let ratio = thread_ctx::used_memory_ratio(ctx);
        let over = ratio > 0.0 && ratio >= self.max_memory_ratio;
        let was = self.backpressure.swap(over, Ordering::Relaxed);
        if over != was {
            // The supervisor decides what it means for the state (session::next_state).
            let _ = self.events.send(StateEvent::Backpressure(over));
        }
    }

    fn account(&self, batches: &[Batch], released: &[Entry]) {
        let mut per_table: BTreeMap<&str, (&str, u64)> = BTreeMap::new();
        let mut events = 0u64;
        let mut txns = 0u64;
        let mut commit_ms = 0u64;
        for b in batches {
            txns += b.txns;
            if b.commit_ms > 0 {
                commit_ms = b.commit_ms;
            }
        }
        // Held XA rows are not in their streams yet: counted when released (at XA COMMIT).
        let written = batches
            .iter()
            .filter(|b| !matches!(b.xa, Some(XaOp::Hold(_))))
            .flat_map(|b| b.entries.iter())
            .chain(released)
            .filter(|e| counts_as_written(e));
        for e in written {
            events += 1;
            // Entries of no table (Debezium schema changes) have no CDC.TABLES counter.
            if !e.table.is_empty() {
                per_table.entry(&e.table).or_insert((&e.stream, 0)).1 += 1;
            }
        }
        STATUS.events.fetch_add(events, Ordering::Relaxed);
        let snapshot_batches = batches.iter().filter(|b| b.snapshot.is_some()).count() as u64;
        STATUS
            .snapshot_batches
            .fetch_add(snapshot_batches, Ordering::Relaxed);
        STATUS.transactions.fetch_add(txns, Ordering::Relaxed);
        if commit_ms > 0 {
            STATUS.last_commit_ms.store(commit_ms, Ordering::Relaxed);
        }
        STATUS.record_written(&per_table, commit_ms);
        // A table whose key changed leaves or joins the mirror: CDC.TABLES `mirror` follows
        // its shape, as the mirror's writes do.
        let keyed: Vec<(String, bool)> = batches
            .iter()
            .flat_map(|b| b.shapes.iter())
            .filter_map(|c| {
                let ((db, table), cols) = parse_shape(&c.field, c.value.as_deref()?).ok()?;
                Some((table_name(&db, &table), !primary_key_of(&cols).is_empty()))
            })
            .collect();
        if !keyed.is_empty() {
            STATUS.record_keys(
                keyed.iter().map(|(t, k)| (t.as_str(), *k)),
                crate::config::mirror_mode(),
            );
        }
        // Tables dropped or renamed away leave CDC.TABLES, unless a later batch of this group
        // wrote to the name again (DROP then CREATE).
        for (i, b) in batches.iter().enumerate() {
            for t in &b.gone {
                let again = batches[i + 1..]
                    .iter()
                    .any(|later| later.entries.iter().any(|e| &*e.table == t.as_str()));
                if !again {
                    STATUS.forget_table(t);
                }
            }
        }
        if let Some(last) = batches.last() {
            let mut g = STATUS.lock();
            g.position.clone_from(&last.position);
            g.gtid.clone_from(&last.checkpoint.gtid);
        }
    }
}

/// A held XA entry: `{"stream":…,"table":…,"fields":[[name,value],…],"mirror":…}` (the
/// mirror write only when there is one).
fn held_text(e: &Entry) -> String {
    let fields: Vec<[&str; 2]> = e
        .fields
        .iter()
        .map(|(k, v)| [k.as_ref(), v.as_str()])
        .collect();
    let mut v = serde_json::json!({ "stream": &*e.stream, "table": &*e.table, "fields": fields });
    if let (Some(m), Some(obj)) = (&e.mirror, v.as_object_mut()) {
        obj.insert(
            "mirror".into(),
            serde_json::to_value(m).unwrap_or(serde_json::Value::Null),
        );
    }
    v.to_string()
}

/// The entries held under `key` (LRANGE), in order; None when there is no such hold.
/// The entries an XA hold keeps (None: no hold), and the re-reads its headers name.
fn held_entries(ctx: &Context, key: &str) -> Result<(Option<Vec<Entry>>, Vec<String>), String> {
    let bad = || format!("the XA hold {key} is not what the module wrote");
    let reply = ctx
        .call("LRANGE", &[key, "0", "-1"])
        .map_err(|e| format!("LRANGE {key}: {e}"))?;
    let RedisValue::Array(items) = reply else {
        return Err(bad());
    };
    if items.is_empty() {
        return Ok((None, Vec::new()));
    }
    let mut rereads = Vec::new();
    let entries = items
        .iter()
        .filter_map(|item| {
            let mut entry = || -> Result<Option<Entry>, String> {
                let text = match item {
                    RedisValue::BulkRedisString(s) => s.try_as_str().ok().map(str::to_string),
                    RedisValue::BulkString(s) | RedisValue::SimpleString(s) => Some(s.clone()),
                    RedisValue::StringBuffer(b) => String::from_utf8(b.clone()).ok(),
                    _ => None,
                }
                .ok_or_else(bad)?;
                let v: serde_json::Value = serde_json::from_str(&text).map_err(|_| bad())?;
                if v.get("xa").is_some() {
                    // The hold's header.
                    let tables = v.get("reread").and_then(|r| r.as_array());
                    rereads.extend(
                        tables
                            .into_iter()
                            .flatten()
                            .filter_map(|t| t.as_str())
                            .map(str::to_string),
                    );
                    return Ok(None);
                }
                let s = |f: &str| v.get(f).and_then(|x| x.as_str()).map(str::to_string);
                let fields = v
                    .get("fields")
                    .and_then(|f| f.as_array())
                    .ok_or_else(bad)?
                    .iter()
                    .map(|pair| {
                        match (
                            pair.get(0).and_then(|x| x.as_str()),
                            pair.get(1).and_then(|x| x.as_str()),
                        ) {
                            (Some(k), Some(v)) => {
                                Ok((std::borrow::Cow::Owned(k.to_string()), v.to_string()))
                            }
                            _ => Err(bad()),
                        }
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                let mirror = match v.get("mirror") {
                    None => None,
                    Some(m) => Some(serde_json::from_value(m.clone()).map_err(|_| bad())?),
                };
                Ok(Some(Entry {
                    stream: s("stream").ok_or_else(bad)?.into(),
                    table: s("table").ok_or_else(bad)?.into(),
                    fields,
                    mirror,
                }))
            };
            entry().transpose()
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((Some(entries), rereads))
}

fn check(r: CallResult, what: &str) -> Result<(), String> {
    match r {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "{what} refused: {}",
            e.to_utf8_string().unwrap_or_default()
        )),
    }
}

/// Whether `e` counts in CDC.STATUS `events` and CDC.TABLES `entries`: a stream entry, or
/// (`cdc.streams no`) a row's mirror write. The mirror's own notes of a snapshot or resync
/// (begin, end) are neither, and are not counted.
fn counts_as_written(e: &Entry) -> bool {
    use redis_cdc_core::format::mirror::MirrorWrite;
    !e.fields.is_empty()
        || matches!(
            e.mirror,
            Some(MirrorWrite::Hash { .. } | MirrorWrite::Json { .. } | MirrorWrite::Del { .. })
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_cdc_core::model::batch::Entry;
    use redis_cdc_core::model::position::Checkpoint;
    use std::borrow::Cow;
    use std::time::Duration;

    #[test]
    fn holds_are_sized_by_the_measured_cost_of_a_write() {
        let mut s = HoldSizer::new();
        assert_eq!(s.limit(), 625);
        // Writes twice as dear: the holds shrink towards half as many.
        for _ in 0..50 {
            s.observe(500, 1_600);
        }
        assert!((300..=320).contains(&s.limit()), "{}", s.limit());
        // Too few writes to tell: ignored.
        s.observe(3, 1_000_000);
        assert!((300..=320).contains(&s.limit()), "{}", s.limit());
        // Bounded both ways.
        for _ in 0..50 {
            s.observe(100, 1_000_000);
        }
        assert_eq!(s.limit(), MIN_WRITES_PER_LOCK);
        for _ in 0..100 {
            s.observe(1000, 1);
        }
        assert_eq!(s.limit(), MAX_WRITES_PER_LOCK);
    }

    fn batch(value_bytes: usize) -> Batch {
        Batch {
            entries: vec![Entry {
                stream: "cdc:db.t".into(),
                table: "db.t".into(),
                fields: vec![(Cow::Borrowed("after"), "x".repeat(value_bytes))],
                mirror: None,
            }],
            checkpoint: Checkpoint::default(),
            position: String::new(),
            txns: 1,
            commit_ms: 0,
            snapshot: None,
            xa: None,
            gone: Vec::new(),
            shapes: Vec::new(),
            rereads: Vec::new(),
            rereads_queued: Vec::new(),
        }
    }

    #[test]
    fn the_channel_holds_at_most_its_byte_budget() {
        let (tx, rx) = channel();
        let first = batch(MAX_BYTES_IN_FLIGHT / 2);
        let first_bytes = first.bytes();
        tx.send(first).expect("room for the first batch");
        let sender = std::thread::spawn({
            let tx = tx.clone();
            move || tx.send(batch(MAX_BYTES_IN_FLIGHT / 2 + 1024))
        });
        std::thread::sleep(Duration::from_millis(100));
        assert!(rx.try_recv().is_some(), "the first batch is in the channel");
        assert!(
            rx.try_recv().is_none(),
            "the second batch waits: both together exceed the budget"
        );
        // The writer wrote the first batch: the second may go.
        rx.in_flight.release(first_bytes);
        sender.join().unwrap().expect("sent once there is room");
        assert!(rx.try_recv().is_some());
    }

    #[test]
    fn a_batch_over_the_budget_goes_alone() {
        let (tx, rx) = channel();
        tx.send(batch(MAX_BYTES_IN_FLIGHT + 1))
            .expect("an empty channel takes any batch");
        assert!(rx.try_recv().is_some());
    }

    #[test]
    fn a_waiting_sender_fails_when_the_writer_goes() {
        let (tx, rx) = channel();
        tx.send(batch(MAX_BYTES_IN_FLIGHT)).unwrap();
        let sender = std::thread::spawn(move || tx.send(batch(1024)));
        std::thread::sleep(Duration::from_millis(50));
        drop(rx);
        assert!(sender.join().unwrap().is_err());
    }
}
