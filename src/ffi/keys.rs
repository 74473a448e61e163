//! Keys, streams and hashes through the low-level key API: open, type check, `RM_StreamAdd`,
//! trim, `RM_HashSet`, delete, and the explicit propagation (`RM_Replicate`) and keyspace
//! notifications that go with them (the low-level API does neither by itself). The writer's hot
//! path: every wrapper is a direct call through a pointer loaded once per batch.

use super::strings::{Fields, RString};
use super::{api, OK};
use redis_module::{raw, Context};
use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::ops::Range;
use std::os::raw::{c_char, c_int, c_longlong};
use std::ptr::NonNull;

/// What a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Empty,
    Stream,
    Hash,
    Other,
}

/// A key opened under the Redis lock; closed on drop, while the context (and the lock) lives.
pub struct Key<'c> {
    ptr: NonNull<raw::RedisModuleKey>,
    _ctx: PhantomData<&'c Context>,
}

impl Drop for Key<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(close) = api!(RedisModule_CloseKey) {
            // SAFETY: opened by RM_OpenKey through a context whose lock is still held ('c).
            unsafe { close(self.ptr.as_ptr()) };
        }
    }
}

/// The id Redis gave an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

type ReplicateFn =
    unsafe extern "C" fn(*mut raw::RedisModuleCtx, *const c_char, *const c_char, ...) -> c_int;

/// The key and stream functions, loaded once (per batch) so that each call per entry is a
/// direct call.
pub struct KeyApi {
    open_key: unsafe extern "C" fn(
        *mut raw::RedisModuleCtx,
        *mut raw::RedisModuleString,
        c_int,
    ) -> *mut raw::RedisModuleKey,
    key_type: unsafe extern "C" fn(*mut raw::RedisModuleKey) -> c_int,
    value_length: unsafe extern "C" fn(*mut raw::RedisModuleKey) -> usize,
    stream_add: unsafe extern "C" fn(
        *mut raw::RedisModuleKey,
        c_int,
        *mut raw::RedisModuleStreamID,
        *mut *mut raw::RedisModuleString,
        i64,
    ) -> c_int,
    trim: unsafe extern "C" fn(*mut raw::RedisModuleKey, c_int, c_longlong) -> c_longlong,
    replicate: ReplicateFn,
    notify: unsafe extern "C" fn(
        *mut raw::RedisModuleCtx,
        c_int,
        *const c_char,
        *mut raw::RedisModuleString,
    ) -> c_int,
    signal_modified:
        unsafe extern "C" fn(*mut raw::RedisModuleCtx, *mut raw::RedisModuleString) -> c_int,
    hash_set: unsafe extern "C" fn(*mut raw::RedisModuleKey, c_int, ...) -> c_int,
    delete_key: unsafe extern "C" fn(*mut raw::RedisModuleKey) -> c_int,
}

/// `REDISMODULE_HASH_DELETE`: the value that makes `RM_HashSet` delete a field (the C header
/// defines it as the address 1, which bindgen cannot translate). The address itself is what
/// counts, not the type's alignment: hence no `dangling_mut`.
#[allow(clippy::manual_dangling_ptr)]
const HASH_DELETE: *mut raw::RedisModuleString = 1usize as *mut raw::RedisModuleString;

impl KeyApi {
    /// `None` before Redis 6.2 (no stream API).
    pub fn get() -> Option<KeyApi> {
        Some(KeyApi {
            open_key: api!(RedisModule_OpenKey)?,
            key_type: api!(RedisModule_KeyType)?,
            value_length: api!(RedisModule_ValueLength)?,
            stream_add: api!(RedisModule_StreamAdd)?,
            trim: api!(RedisModule_StreamTrimByLength)?,
            replicate: api!(RedisModule_Replicate)?,
            notify: api!(RedisModule_NotifyKeyspaceEvent)?,
            signal_modified: api!(RedisModule_SignalModifiedKey)?,
            hash_set: api!(RedisModule_HashSet)?,
            delete_key: api!(RedisModule_DeleteKey)?,
        })
    }

    /// Open `name` for reading, or for reading and writing; `None` when Redis refuses.
    #[inline]
    pub fn open<'c>(&self, ctx: &'c Context, name: &RString, write: bool) -> Option<Key<'c>> {
        let mode = if write {
            raw::REDISMODULE_READ | raw::REDISMODULE_WRITE
        } else {
            raw::REDISMODULE_READ
        };
        // SAFETY: lock held (ctx); the name is a live string.
        let key = unsafe { (self.open_key)(ctx.ctx, name.as_ptr(), mode as c_int) };
        NonNull::new(key).map(|ptr| Key {
            ptr,
            _ctx: PhantomData,
        })
    }

    #[inline]
    pub fn key_type(&self, key: &Key) -> KeyType {
        // SAFETY: key is open; lock held.
        let t = unsafe { (self.key_type)(key.ptr.as_ptr()) };
        match t as u32 {
            t if t == raw::REDISMODULE_KEYTYPE_EMPTY as u32 => KeyType::Empty,
            t if t == raw::REDISMODULE_KEYTYPE_STREAM as u32 => KeyType::Stream,
            t if t == raw::REDISMODULE_KEYTYPE_HASH as u32 => KeyType::Hash,
            _ => KeyType::Other,
        }
    }

    /// Append the field/value pairs `fields[range]` to the stream with an id Redis assigns;
    /// `None` when Redis refuses (errno says why).
    #[inline]
    pub fn add(&self, key: &Key, fields: &mut Fields, range: Range<usize>) -> Option<StreamId> {
        let argv = fields.slice_mut(range);
        let mut id = raw::RedisModuleStreamID { ms: 0, seq: 0 };
        // SAFETY: key open for writing, argv holds live field/value strings (Fields), of which
        // Redis reads len/2 pairs and copies them; lock held.
        let rc = unsafe {
            (self.stream_add)(
                key.ptr.as_ptr(),
                raw::REDISMODULE_STREAM_ADD_AUTOID as c_int,
                &mut id,
                argv.as_mut_ptr(),
                (argv.len() / 2) as _,
            )
        };
        (rc == OK).then_some(StreamId {
            ms: id.ms,
            seq: id.seq,
        })
    }

    /// Propagate `XADD key <id> fields[range]...` to the AOF and replicas.
    #[inline]
    pub fn replicate_xadd(
        &self,
        ctx: &Context,
        key: &RString,
        id: &str,
        fields: &mut Fields,
        range: Range<usize>,
    ) {
        let argv = fields.slice_mut(range);
        // SAFETY: "sbv" = a RedisModuleString, (buffer, len), (vector, count), all live for the
        // call (Redis takes references it releases at unlock); lock held.
        unsafe {
            (self.replicate)(
                ctx.ctx,
                c"XADD".as_ptr(),
                c"sbv".as_ptr(),
                key.as_ptr(),
                id.as_ptr(),
                id.len(),
                argv.as_mut_ptr(),
                argv.len(),
            );
        }
    }

    /// The `xadd` keyspace notification for `key`.
    #[inline]
    pub fn notify_xadd(&self, ctx: &Context, key: &RString) {
        self.notify(ctx, raw::REDISMODULE_NOTIFY_STREAM, c"xadd", key)
    }

    /// A keyspace notification of a hash command (`hset`, `hdel`) for `key`: RediSearch
    /// re-indexes the hash on it.
    #[inline]
    pub fn notify_hash(&self, ctx: &Context, event: &CStr, key: &RString) {
        self.notify(ctx, raw::REDISMODULE_NOTIFY_HASH, event, key)
    }

    /// The `del` keyspace notification for `key`.
    #[inline]
    pub fn notify_del(&self, ctx: &Context, key: &RString) {
        self.notify(ctx, raw::REDISMODULE_NOTIFY_GENERIC, c"del", key)
    }

    #[inline]
    fn notify(&self, ctx: &Context, class: c_int, event: &CStr, key: &RString) {
        // SAFETY: lock held; the event is a NUL-terminated literal and the key a live string.
        unsafe { (self.notify)(ctx.ctx, class, event.as_ptr(), key.as_ptr()) };
    }

    /// Trim the stream to about `maxlen` entries (`MAXLEN ~`); the entries removed.
    #[inline]
    pub fn trim_approx(&self, key: &Key, maxlen: u64) -> i64 {
        let maxlen = maxlen.min(i64::MAX as u64) as c_longlong;
        // SAFETY: key open for writing; lock held.
        unsafe {
            (self.trim)(
                key.ptr.as_ptr(),
                raw::REDISMODULE_STREAM_TRIM_APPROX as c_int,
                maxlen,
            )
        }
    }

    /// Length of the value (entries of a stream).
    #[inline]
    pub fn value_length(&self, key: &Key) -> usize {
        // SAFETY: key open; lock held.
        unsafe { (self.value_length)(key.ptr.as_ptr()) }
    }

    /// Propagate `XTRIM key MAXLEN <len>` (the exact length left).
    pub fn replicate_xtrim(&self, ctx: &Context, key: &RString, len: usize) {
        let len = CString::new(len.to_string()).unwrap_or_default();
        // SAFETY: "scc" = a RedisModuleString and two C strings, live for the call; lock held.
        unsafe {
            (self.replicate)(
                ctx.ctx,
                c"XTRIM".as_ptr(),
                c"scc".as_ptr(),
                key.as_ptr(),
                c"MAXLEN".as_ptr(),
                len.as_ptr(),
            )
        };
    }

    /// Signal WATCH and client-side caching that `key` changed, as XADD does.
    #[inline]
    pub fn signal_modified(&self, ctx: &Context, key: &RString) {
        // SAFETY: lock held; the key is a live string.
        unsafe { (self.signal_modified)(ctx.ctx, key.as_ptr()) };
    }
}

impl KeyApi {
    /// Set the field/value pairs `fields[range]` in the hash (created when the key is empty);
    /// `false` when Redis refuses (the key holds another type, or is not open for writing).
    #[inline]
    pub fn hash_set(&self, key: &Key, fields: &mut Fields, range: Range<usize>) -> bool {
        for pair in fields.slice_mut(range).chunks_exact(2) {
            // SAFETY: key open for writing; field and value are live strings (Fields) that
            // Redis copies; the list ends with NULL as the variadic call requires; lock held.
            let n = unsafe {
                (self.hash_set)(
                    key.ptr.as_ptr(),
                    raw::REDISMODULE_HASH_COUNT_ALL as c_int,
                    pair[0],
                    pair[1],
                    std::ptr::null_mut::<raw::RedisModuleString>(),
                )
            };
            if n == 0 {
                return false;
            }
        }
        true
    }

    /// Delete the fields `names[range]` from the hash; how many existed.
    #[inline]
    pub fn hash_del(&self, key: &Key, names: &mut Fields, range: Range<usize>) -> usize {
        let mut deleted = 0;
        for &name in names.slice_mut(range).iter() {
            // SAFETY: as in hash_set, with the delete marker as the value.
            let n = unsafe {
                (self.hash_set)(
                    key.ptr.as_ptr(),
                    0,
                    name,
                    HASH_DELETE,
                    std::ptr::null_mut::<raw::RedisModuleString>(),
                )
            };
            deleted += n.max(0) as usize;
        }
        deleted
    }

    /// Delete the key's value; `true` when there was one.
    #[inline]
    pub fn delete(&self, key: &Key) -> bool {
        if self.key_type(key) == KeyType::Empty {
            return false;
        }
        // SAFETY: key open for writing; lock held.
        unsafe { (self.delete_key)(key.ptr.as_ptr()) == OK }
    }

    /// Propagate `<cmd> key args[range]...` to the AOF and replicas.
    #[inline]
    pub fn replicate_args(
        &self,
        ctx: &Context,
        cmd: &CStr,
        key: &RString,
        args: &mut Fields,
        range: Range<usize>,
    ) {
        let argv = args.slice_mut(range);
        // SAFETY: "sv" = a RedisModuleString and a (vector, count) of live strings; Redis takes
        // references it releases at unlock; lock held.
        unsafe {
            (self.replicate)(
                ctx.ctx,
                cmd.as_ptr(),
                c"sv".as_ptr(),
                key.as_ptr(),
                argv.as_mut_ptr(),
                argv.len(),
            );
        }
    }

    /// Propagate `<cmd> key` (DEL) to the AOF and replicas.
    #[inline]
    pub fn replicate_key(&self, ctx: &Context, cmd: &CStr, key: &RString) {
        // SAFETY: "s" = one live RedisModuleString; lock held.
        unsafe { (self.replicate)(ctx.ctx, cmd.as_ptr(), c"s".as_ptr(), key.as_ptr()) };
    }
}
