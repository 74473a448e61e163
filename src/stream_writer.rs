//! Appending prepared entries to streams through the low-level key API (`RM_StreamAdd`),
//! replicating each as `XADD key <assigned id> ...` — no command parsing under the lock.
//!
//! Entry strings are created before the lock is taken (`RM_CreateString` with no context is
//! safe from any thread) and released while it is still held, so that the reference counts
//! the propagation machinery shares with us are only ever touched under the lock.

use crate::sink::Entry;
use redis_module::raw;
use std::collections::HashMap;
use std::ffi::CString;
use std::os::raw::c_int;
use std::ptr;

/// A Redis string owned by us (freed on drop; drop only while holding the lock if it was
/// handed to Redis for propagation).
struct RString(*mut raw::RedisModuleString);

impl RString {
    fn new(bytes: &[u8]) -> Option<RString> {
        let create = unsafe { raw::RedisModule_CreateString }?;
        // SAFETY: a null context creates an unmanaged string from a byte buffer we own.
        let s = unsafe { create(ptr::null_mut(), bytes.as_ptr().cast(), bytes.len()) };
        (!s.is_null()).then_some(RString(s))
    }
}

impl Drop for RString {
    fn drop(&mut self) {
        if let Some(free) = unsafe { raw::RedisModule_FreeString } {
            // SAFETY: created by RM_CreateString with a null context; freed once.
            unsafe { free(ptr::null_mut(), self.0) };
        }
    }
}

/// Entries turned into Redis strings, ready to append.
pub struct Prepared {
    keys: Vec<RString>,
    /// (index into `keys`, field/value strings) per entry.
    entries: Vec<(usize, Vec<RString>)>,
}

// SAFETY: the strings are private to the writer until appended under the lock.
unsafe impl Send for Prepared {}

/// Turn entries into Redis strings (no lock needed).
pub fn prepare<'a>(entries: impl Iterator<Item = &'a Entry>) -> Result<Prepared, String> {
    let mut keys: Vec<RString> = Vec::new();
    let mut key_index: HashMap<&str, usize> = HashMap::new();
    let mut out = Vec::new();
    for e in entries {
        let idx = match key_index.get(&*e.stream) {
            Some(i) => *i,
            None => {
                keys.push(RString::new(e.stream.as_bytes()).ok_or("cannot create a Redis string")?);
                key_index.insert(&e.stream, keys.len() - 1);
                keys.len() - 1
            }
        };
        let mut argv = Vec::with_capacity(e.fields.len() * 2);
        for (k, v) in &e.fields {
            argv.push(RString::new(k.as_bytes()).ok_or("cannot create a Redis string")?);
            argv.push(RString::new(v.as_bytes()).ok_or("cannot create a Redis string")?);
        }
        out.push((idx, argv));
    }
    Ok(Prepared { keys, entries: out })
}

struct OpenKey(*mut raw::RedisModuleKey);

impl Drop for OpenKey {
    fn drop(&mut self) {
        if let Some(close) = unsafe { raw::RedisModule_CloseKey } {
            // SAFETY: opened by RM_OpenKey under the lock that is still held.
            unsafe { close(self.0) };
        }
    }
}

/// Append every prepared entry (caller holds the Redis lock on `ctx`), trimming each stream
/// to about `maxlen` entries when non-zero. All keys are type-checked before anything is
/// written, so a batch is written whole or not at all.
pub fn append(ctx: *mut raw::RedisModuleCtx, p: Prepared, maxlen: u64) -> Result<(), String> {
    let api = Api::get().ok_or("the Redis stream API is not available (Redis 6.2+ needed)")?;
    let mut open: Vec<OpenKey> = Vec::with_capacity(p.keys.len());
    for k in &p.keys {
        // SAFETY: lock held; the key name is a live string.
        let key = unsafe {
            (api.open_key)(
                ctx,
                k.0,
                (raw::REDISMODULE_READ | raw::REDISMODULE_WRITE) as c_int,
            )
        };
        if key.is_null() {
            return Err("cannot open a stream key".into());
        }
        let key = OpenKey(key);
        // SAFETY: key is open.
        let t = unsafe { (api.key_type)(key.0) };
        if t != raw::REDISMODULE_KEYTYPE_EMPTY as c_int
            && t != raw::REDISMODULE_KEYTYPE_STREAM as c_int
        {
            return Err(format!(
                "key {} holds another type than a stream: rename or delete it (nothing was written)",
                string_lossy(k.0)
            ));
        }
        open.push(key);
    }
    let xadd = c"XADD";
    let xtrim = c"XTRIM";
    let fmt_xadd = c"sbv";
    let event = c"xadd";
    for (idx, argv) in &p.entries {
        let key = &open[*idx];
        let mut id = raw::RedisModuleStreamID { ms: 0, seq: 0 };
        let mut ptrs: Vec<*mut raw::RedisModuleString> = argv.iter().map(|s| s.0).collect();
        // SAFETY: key open for writing, argv holds field/value pairs, lock held.
        let rc = unsafe {
            (api.stream_add)(
                key.0,
                raw::REDISMODULE_STREAM_ADD_AUTOID as c_int,
                &mut id,
                ptrs.as_mut_ptr(),
                (ptrs.len() / 2) as _,
            )
        };
        if rc != raw::REDISMODULE_OK as c_int {
            return Err(format!(
                "XADD to {} failed: {}",
                string_lossy(p.keys[*idx].0),
                std::io::Error::last_os_error()
            ));
        }
        let id_text = format!("{}-{}", id.ms, id.seq);
        // SAFETY: "sbv" = RedisModuleString, (buffer, len), (vector, count); lock held.
        unsafe {
            (api.replicate)(
                ctx,
                xadd.as_ptr(),
                fmt_xadd.as_ptr(),
                p.keys[*idx].0,
                id_text.as_ptr(),
                id_text.len(),
                ptrs.as_mut_ptr(),
                ptrs.len(),
            );
            (api.notify)(
                ctx,
                raw::REDISMODULE_NOTIFY_STREAM,
                event.as_ptr(),
                p.keys[*idx].0,
            );
        }
    }
    for (k, key) in p.keys.iter().zip(&open) {
        if maxlen > 0 {
            // SAFETY: key open for writing; lock held.
            let trimmed = unsafe {
                (api.trim)(
                    key.0,
                    raw::REDISMODULE_STREAM_TRIM_APPROX as c_int,
                    maxlen as _,
                )
            };
            if trimmed > 0 {
                // Replicate the exact length left, so that replicas and the AOF end up equal.
                let len = unsafe { (api.value_length)(key.0) };
                let len = CString::new(len.to_string()).unwrap_or_default();
                // SAFETY: "scc" = RedisModuleString, two C strings; lock held.
                unsafe {
                    (api.replicate)(
                        ctx,
                        xtrim.as_ptr(),
                        c"scc".as_ptr(),
                        k.0,
                        c"MAXLEN".as_ptr(),
                        len.as_ptr(),
                    )
                };
            }
        }
        // SAFETY: lock held; signals WATCH and client-side caching like XADD does.
        unsafe { (api.signal_modified)(ctx, k.0) };
    }
    drop(open);
    // `p` (all strings) is dropped here, still under the lock.
    Ok(())
}

fn string_lossy(s: *mut raw::RedisModuleString) -> String {
    let Some(f) = (unsafe { raw::RedisModule_StringPtrLen }) else {
        return String::new();
    };
    let mut len = 0usize;
    // SAFETY: s is a live string; the returned pointer is valid for len bytes while it lives.
    let p = unsafe { f(s, &mut len) };
    if p.is_null() {
        return String::new();
    }
    String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) }).into_owned()
}

type ReplicateFn = unsafe extern "C" fn(
    *mut raw::RedisModuleCtx,
    *const std::os::raw::c_char,
    *const std::os::raw::c_char,
    ...
) -> c_int;

struct Api {
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
    trim: unsafe extern "C" fn(
        *mut raw::RedisModuleKey,
        c_int,
        std::os::raw::c_longlong,
    ) -> std::os::raw::c_longlong,
    replicate: ReplicateFn,
    notify: unsafe extern "C" fn(
        *mut raw::RedisModuleCtx,
        c_int,
        *const std::os::raw::c_char,
        *mut raw::RedisModuleString,
    ) -> c_int,
    signal_modified:
        unsafe extern "C" fn(*mut raw::RedisModuleCtx, *mut raw::RedisModuleString) -> c_int,
}

impl Api {
    fn get() -> Option<Api> {
        // SAFETY: reading the API function pointers Redis filled in at module load.
        unsafe {
            Some(Api {
                open_key: raw::RedisModule_OpenKey?,
                key_type: raw::RedisModule_KeyType?,
                value_length: raw::RedisModule_ValueLength?,
                stream_add: raw::RedisModule_StreamAdd?,
                trim: raw::RedisModule_StreamTrimByLength?,
                replicate: raw::RedisModule_Replicate?,
                notify: raw::RedisModule_NotifyKeyspaceEvent?,
                signal_modified: raw::RedisModule_SignalModifiedKey?,
            })
        }
    }
}
