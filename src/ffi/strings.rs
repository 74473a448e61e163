//! Redis strings owned by the module: entry values and key names ([`RString`]), the static
//! field names of the formats ([`FieldName`]), and the field/value vectors of entries
//! ([`Fields`]) that `RM_StreamAdd` and `RM_Replicate` read.

use super::api;
use redis_module::raw;
use std::collections::HashMap;
use std::ptr::{self, NonNull};
use std::sync::Mutex;

/// A Redis string owned by us, freed on drop. Created without a context (so Redis never frees
/// it by itself), which is allowed from any thread. Redis may take references to it while we
/// hold the lock (propagation) and releases them when the lock is released.
pub struct RString(NonNull<raw::RedisModuleString>);

impl RString {
    /// A copy of `bytes`; `None` when Redis lacks the API or cannot allocate.
    #[inline]
    pub fn new(bytes: &[u8]) -> Option<RString> {
        let create = api!(RedisModule_CreateString)?;
        // SAFETY: a null context creates an unmanaged string from a buffer we own for the call.
        let s = unsafe { create(ptr::null_mut(), bytes.as_ptr().cast(), bytes.len()) };
        NonNull::new(s).map(RString)
    }

    #[inline]
    pub(super) fn as_ptr(&self) -> *mut raw::RedisModuleString {
        self.0.as_ptr()
    }

    /// The bytes as text, invalid UTF-8 replaced (for error messages).
    pub fn to_string_lossy(&self) -> String {
        let Some(ptr_len) = api!(RedisModule_StringPtrLen) else {
            return String::new();
        };
        let mut len = 0usize;
        // SAFETY: a live string of ours; the pointer returned is valid for len bytes while it
        // lives, and we copy the bytes out before returning.
        let p = unsafe { ptr_len(self.as_ptr(), &mut len) };
        if p.is_null() {
            return String::new();
        }
        // SAFETY: p is non-null and valid for len bytes (above).
        String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
            .into_owned()
    }
}

impl Drop for RString {
    #[inline]
    fn drop(&mut self) {
        if let Some(free) = api!(RedisModule_FreeString) {
            // SAFETY: created by RM_CreateString with a null context, freed once, here.
            unsafe { free(ptr::null_mut(), self.as_ptr()) };
        }
    }
}

/// A field name of the formats (`op`, `after`, ...): one Redis string per name for the life of
/// the process, never freed, shared by every entry. `RM_StreamAdd` copies its bytes;
/// propagation takes and releases references within a lock hold, so only the writer touches
/// it, under the lock.
#[derive(Clone, Copy)]
pub struct FieldName(NonNull<raw::RedisModuleString>);

// SAFETY: the string is never freed; its reference count changes only under the Redis lock
// (propagation), so sharing the handle between threads is sound.
unsafe impl Send for FieldName {}
// SAFETY: as above.
unsafe impl Sync for FieldName {}

impl FieldName {
    /// The Redis string of `name`, created on first use. Callers cache the handle: this takes
    /// a process-wide mutex.
    pub fn intern(name: &'static str) -> Option<FieldName> {
        static ALL: Mutex<Vec<(&'static str, FieldName)>> = Mutex::new(Vec::new());
        let mut all = ALL.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, f)) = all.iter().find(|(n, _)| *n == name) {
            return Some(*f);
        }
        let s = RString::new(name.as_bytes())?;
        let f = FieldName(s.0);
        // Never freed: the handle may be held by any writer for the life of the process.
        std::mem::forget(s);
        all.push((name, f));
        Some(f)
    }

    /// The Redis string of a name known only at run time (a column name of the mirror's
    /// hashes), created once and never freed; `None` past [`MAX_DYNAMIC_NAMES`] (the caller
    /// then makes a string per use), so that a stream of ever new names cannot grow this
    /// without bound. Callers cache the handle: this takes a process-wide mutex.
    pub fn intern_dynamic(name: &str) -> Option<FieldName> {
        static ALL: Mutex<Option<HashMap<String, FieldName>>> = Mutex::new(None);
        let mut all = ALL.lock().unwrap_or_else(|p| p.into_inner());
        let all = all.get_or_insert_with(HashMap::new);
        if let Some(f) = all.get(name) {
            return Some(*f);
        }
        if all.len() >= MAX_DYNAMIC_NAMES {
            return None;
        }
        let s = RString::new(name.as_bytes())?;
        let f = FieldName(s.0);
        // Never freed, as above.
        std::mem::forget(s);
        all.insert(name.to_string(), f);
        Some(f)
    }
}

/// Most run-time names [`FieldName::intern_dynamic`] keeps.
pub const MAX_DYNAMIC_NAMES: usize = 1 << 16;

/// The field/value strings of entries, back to back, together with the strings they point to:
/// the pointers stay valid as long as this lives (field names are never freed).
#[derive(Default)]
pub struct Fields {
    /// Values and names that are not static: freed when this is dropped.
    owned: Vec<RString>,
    /// Field/value pointers, in pairs.
    argv: Vec<*mut raw::RedisModuleString>,
}

impl Fields {
    /// Append a pair with a static field name.
    #[inline]
    pub fn push(&mut self, name: FieldName, value: RString) {
        self.argv.push(name.0.as_ptr());
        self.argv.push(value.as_ptr());
        self.owned.push(value);
    }

    /// Append a pair whose field name is not static.
    #[inline]
    pub fn push_owned(&mut self, name: RString, value: RString) {
        self.argv.push(name.as_ptr());
        self.owned.push(name);
        self.argv.push(value.as_ptr());
        self.owned.push(value);
    }

    /// Append a single string (a field name to delete): the vector then holds arguments that
    /// are not pairs, for calls that take them so (HDEL).
    #[inline]
    pub fn push_arg(&mut self, arg: RString) {
        self.argv.push(arg.as_ptr());
        self.owned.push(arg);
    }

    /// Append a single name that is never freed (a field name to delete).
    #[inline]
    pub fn push_name(&mut self, name: FieldName) {
        self.argv.push(name.0.as_ptr());
    }

    /// Number of pointers (twice the number of pairs).
    #[inline]
    pub fn len(&self) -> usize {
        self.argv.len()
    }

    /// The pointers of `range`, for a call that reads them (panics when out of bounds).
    #[inline]
    pub(super) fn slice_mut(
        &mut self,
        range: std::ops::Range<usize>,
    ) -> &mut [*mut raw::RedisModuleString] {
        &mut self.argv[range]
    }
}
