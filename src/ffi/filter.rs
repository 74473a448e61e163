//! Command filters: a function that sees (and may rewrite) the arguments of every command the
//! server executes, before it runs, on the main thread.

use super::api;
use super::strings::RString;
use redis_module::{raw, Context};
use std::marker::PhantomData;
use std::os::raw::c_int;

/// A filter: [`register`] installs `Self::filter`.
pub trait CommandFilter {
    /// Runs for every command; must not allocate for commands it does not rewrite.
    fn filter(args: &mut FilterArgs);
}

/// The arguments of the command being filtered, valid during the filter call.
pub struct FilterArgs<'a> {
    fctx: *mut raw::RedisModuleCommandFilterCtx,
    _call: PhantomData<&'a mut ()>,
}

impl FilterArgs<'_> {
    /// Number of arguments, the command name included.
    pub fn len(&self) -> usize {
        match api!(RedisModule_CommandFilterArgsCount) {
            // SAFETY: fctx is the live filter context of the running call.
            Some(count) => unsafe { count(self.fctx) }.max(0) as usize,
            None => 0,
        }
    }

    /// Argument `pos` as bytes, without copying; `None` past the end.
    fn with_arg<R>(&self, pos: usize, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let (get, ptr_len) = (
            api!(RedisModule_CommandFilterArgGet)?,
            api!(RedisModule_StringPtrLen)?,
        );
        let pos = c_int::try_from(pos).ok()?;
        // SAFETY: fctx is the live filter context; Redis returns NULL past the end.
        let s = unsafe { get(self.fctx, pos) };
        if s.is_null() {
            return None;
        }
        let mut len = 0usize;
        // SAFETY: s is a live argument string; the pointer is valid for len bytes while the
        // argument lives (through this call: nothing replaces it meanwhile).
        let p = unsafe { ptr_len(s, &mut len) };
        if p.is_null() {
            return None;
        }
        // SAFETY: as above.
        Some(f(unsafe {
            std::slice::from_raw_parts(p.cast::<u8>(), len)
        }))
    }

    /// True when argument `pos` equals `lit`, ignoring ASCII case; no allocation.
    pub fn arg_is(&self, pos: usize, lit: &[u8]) -> bool {
        self.with_arg(pos, |a| a.eq_ignore_ascii_case(lit))
            .unwrap_or(false)
    }

    /// A copy of argument `pos`.
    pub fn arg(&self, pos: usize) -> Option<Vec<u8>> {
        self.with_arg(pos, <[u8]>::to_vec)
    }

    /// Replace argument `pos` with `value`.
    pub fn replace(&mut self, pos: usize, value: &[u8]) {
        let (Some(replace), Ok(pos)) = (
            api!(RedisModule_CommandFilterArgReplace),
            c_int::try_from(pos),
        ) else {
            return;
        };
        let Some(s) = RString::new(value) else {
            return;
        };
        let p = s.as_ptr();
        // Redis takes ownership of the new string.
        std::mem::forget(s);
        // SAFETY: fctx is the live filter context; p is a string we created and hand over.
        unsafe { replace(self.fctx, pos, p) };
    }
}

extern "C" fn trampoline<F: CommandFilter>(fctx: *mut raw::RedisModuleCommandFilterCtx) {
    let _ = std::panic::catch_unwind(|| {
        F::filter(&mut FilterArgs {
            fctx,
            _call: PhantomData,
        })
    });
}

/// Install `F` (OnLoad), not for commands this module itself calls. False when Redis lacks
/// command filters.
pub fn register<F: CommandFilter>(ctx: &Context) -> bool {
    let Some(register) = api!(RedisModule_RegisterCommandFilter) else {
        return false;
    };
    // SAFETY: the OnLoad context; the callback is a plain function for the module's life.
    let f = unsafe {
        register(
            ctx.ctx,
            Some(trampoline::<F>),
            raw::REDISMODULE_CMDFILTER_NOSELF as c_int,
        )
    };
    !f.is_null()
}
