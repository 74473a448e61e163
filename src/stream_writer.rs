//! Appending prepared entries to streams through the low-level key API (`RM_StreamAdd`),
//! replicating each as `XADD key <assigned id> ...` — no command parsing under the lock.
//!
//! Entry strings are created before the lock is taken (`RM_CreateString` with no context is
//! safe from any thread). Propagation takes references to them and releases those when the
//! lock is released (one execution unit per lock hold), so the values and field names are
//! freed after the hold, by the writer alone. The key names also reach keyspace notifications,
//! whose subscribers may retain them: those are released under the lock.

use redis_cdc_core::model::batch::Entry;
use redis_module::raw;
use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::CString;
use std::fmt::Write as _;
use std::os::raw::c_int;
use std::ptr;

/// A Redis string owned by us, freed on drop. Redis may hold references to a string we handed
/// it only within the lock hold (see the module comment), so values and field names can be
/// dropped after unlocking; key names are dropped under the lock.
struct RString(*mut raw::RedisModuleString);

impl RString {
    fn new(bytes: &[u8]) -> Option<RString> {
        // SAFETY: the API pointers are written once by RedisModule_Init (OnLoad) and never change.
        let create = unsafe { raw::RedisModule_CreateString }?;
        // SAFETY: a null context creates an unmanaged string from a byte buffer we own.
        let s = unsafe { create(ptr::null_mut(), bytes.as_ptr().cast(), bytes.len()) };
        (!s.is_null()).then_some(RString(s))
    }
}

impl Drop for RString {
    fn drop(&mut self) {
        // SAFETY: the API pointers are written once by RedisModule_Init (OnLoad) and never change.
        if let Some(free) = unsafe { raw::RedisModule_FreeString } {
            // SAFETY: created by RM_CreateString with a null context; freed once.
            unsafe { free(ptr::null_mut(), self.0) };
        }
    }
}

/// The field names of the formats are a handful of static strings: one Redis string each for
/// the writer's lifetime, shared by every entry. `RM_StreamAdd` copies their bytes and
/// propagation takes and releases its own references within the lock hold.
#[derive(Default)]
pub struct FieldNames(HashMap<&'static str, RString>);

impl FieldNames {
    fn get(&mut self, name: &'static str) -> Option<*mut raw::RedisModuleString> {
        if let Some(s) = self.0.get(name) {
            return Some(s.0);
        }
        let s = RString::new(name.as_bytes())?;
        let p = s.0;
        self.0.insert(name, s);
        Some(p)
    }
}

/// Entries turned into Redis strings, ready to append.
pub struct Prepared {
    keys: Vec<RString>,
    /// The values (and any name that is not static): created here, freed after the lock hold
    /// by dropping the `Prepared`.
    values: Vec<RString>,
    /// Field/value pointers of all entries, back to back.
    argv: Vec<*mut raw::RedisModuleString>,
    /// (index into `keys`, end of the entry's pairs in `argv`) per entry.
    entries: Vec<(usize, usize)>,
}

// SAFETY: the strings are private to the writer until appended under the lock.
unsafe impl Send for Prepared {}

/// Turn entries into Redis strings (no lock needed).
pub fn prepare<'a>(
    names: &mut FieldNames,
    entries: impl Iterator<Item = &'a Entry>,
) -> Result<Prepared, String> {
    const NO_STRING: &str = "cannot create a Redis string";
    let mut p = Prepared {
        keys: Vec::new(),
        values: Vec::new(),
        argv: Vec::new(),
        entries: Vec::new(),
    };
    let mut key_index: HashMap<&str, usize> = HashMap::new();
    for e in entries {
        let idx = match key_index.get(&*e.stream) {
            Some(i) => *i,
            None => {
                p.keys
                    .push(RString::new(e.stream.as_bytes()).ok_or(NO_STRING)?);
                key_index.insert(&e.stream, p.keys.len() - 1);
                p.keys.len() - 1
            }
        };
        for (k, v) in &e.fields {
            let name = match k {
                Cow::Borrowed(name) => names.get(name).ok_or(NO_STRING)?,
                Cow::Owned(name) => {
                    let s = RString::new(name.as_bytes()).ok_or(NO_STRING)?;
                    let ptr = s.0;
                    p.values.push(s);
                    ptr
                }
            };
            let value = RString::new(v.as_bytes()).ok_or(NO_STRING)?;
            p.argv.push(name);
            p.argv.push(value.0);
            p.values.push(value);
        }
        p.entries.push((idx, p.argv.len()));
    }
    Ok(p)
}

struct OpenKey(*mut raw::RedisModuleKey);

impl Drop for OpenKey {
    fn drop(&mut self) {
        // SAFETY: the API pointers are written once by RedisModule_Init (OnLoad) and never change.
        if let Some(close) = unsafe { raw::RedisModule_CloseKey } {
            // SAFETY: opened by RM_OpenKey under the lock that is still held.
            unsafe { close(self.0) };
        }
    }
}

/// Append every prepared entry (caller holds the Redis lock on `ctx`), trimming each stream
/// to about `maxlen` entries when non-zero. All keys are type-checked before anything is
/// written, so a batch is written whole or not at all.
pub fn append(
    ctx: &redis_module::Context,
    p: &mut Prepared,
    maxlen: u64,
    offset_key: &str,
) -> Result<(), String> {
    let r = Api::get()
        .ok_or_else(|| "the Redis stream API is not available (Redis 6.2+ needed)".to_string())
        .and_then(|api| {
            check_hash_key(&api, ctx, offset_key)?;
            append_entries(&api, ctx, &mut *p, maxlen)
        });
    p.keys.clear();
    r
}

/// Refuse a key that holds another type than `expected` (an empty key is fine), before
/// anything is written.
fn check_type(api: &Api, key: &OpenKey, expected: isize, name: &str) -> Result<(), String> {
    // SAFETY: key is open; lock held.
    let t = unsafe { (api.key_type)(key.0) };
    if t == raw::REDISMODULE_KEYTYPE_EMPTY as c_int || t == expected as c_int {
        return Ok(());
    }
    let kind = if expected == raw::REDISMODULE_KEYTYPE_HASH {
        "a hash"
    } else {
        "a stream"
    };
    Err(format!(
        "key {name} holds another type than {kind}: rename or delete it (nothing was written)"
    ))
}

/// The position is written after the entries, in the same lock hold: a key of another type
/// there would leave entries without their position, so it is refused before anything is
/// written.
fn check_hash_key(api: &Api, ctx: &redis_module::Context, name: &str) -> Result<(), String> {
    let k = RString::new(name.as_bytes()).ok_or("cannot create a Redis string")?;
    // SAFETY: lock held; the key name is a live string.
    let key = unsafe { (api.open_key)(ctx.ctx, k.0, raw::REDISMODULE_READ as c_int) };
    if key.is_null() {
        return Ok(());
    }
    check_type(
        api,
        &OpenKey(key),
        raw::REDISMODULE_KEYTYPE_HASH,
        &format!("{name} (cdc.offset-key)"),
    )
}

fn append_entries(
    api: &Api,
    ctx: &redis_module::Context,
    p: &mut Prepared,
    maxlen: u64,
) -> Result<(), String> {
    let ctx = ctx.ctx;
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
        check_type(
            api,
            &key,
            raw::REDISMODULE_KEYTYPE_STREAM,
            &string_lossy(k.0),
        )?;
        open.push(key);
    }
    let xadd = c"XADD";
    let xtrim = c"XTRIM";
    let fmt_xadd = c"sbv";
    let event = c"xadd";
    let mut id_text = String::with_capacity(32);
    let mut start = 0;
    for &(idx, end) in &p.entries {
        let key = &open[idx];
        let mut id = raw::RedisModuleStreamID { ms: 0, seq: 0 };
        let ptrs = &mut p.argv[start..end];
        start = end;
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
                string_lossy(p.keys[idx].0),
                std::io::Error::last_os_error()
            ));
        }
        id_text.clear();
        let _ = write!(id_text, "{}-{}", id.ms, id.seq);
        // SAFETY: "sbv" = RedisModuleString, (buffer, len), (vector, count); lock held.
        unsafe {
            (api.replicate)(
                ctx,
                xadd.as_ptr(),
                fmt_xadd.as_ptr(),
                p.keys[idx].0,
                id_text.as_ptr(),
                id_text.len(),
                ptrs.as_mut_ptr(),
                ptrs.len(),
            );
            (api.notify)(
                ctx,
                raw::REDISMODULE_NOTIFY_STREAM,
                event.as_ptr(),
                p.keys[idx].0,
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
                // SAFETY: key open; lock held.
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
    Ok(())
}

fn string_lossy(s: *mut raw::RedisModuleString) -> String {
    // SAFETY: the API pointers are written once by RedisModule_Init (OnLoad) and never change.
    let Some(f) = (unsafe { raw::RedisModule_StringPtrLen }) else {
        return String::new();
    };
    let mut len = 0usize;
    // SAFETY: s is a live string; the returned pointer is valid for len bytes while it lives.
    let p = unsafe { f(s, &mut len) };
    if p.is_null() {
        return String::new();
    }
    // SAFETY: p is non-null and valid for len bytes (above).
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
