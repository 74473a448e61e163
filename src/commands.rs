//! CDC.* commands: argument parsing and replies. Each handler's usage is in its doc comment.
//! Replies are RESP3 maps, which Redis turns into flat field/value arrays for RESP2 clients.

use crate::status::{StatusValue, STATUS};
use crate::supervisor::{self, Control};
use redis_module::{raw, Context, RedisError, RedisResult, RedisString, RedisValue};
use std::os::raw::c_long;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The command errors users see, in one place.
pub mod errors {
    use redis_module::RedisError;

    pub fn wrong_arity() -> RedisError {
        RedisError::WrongArity
    }

    pub fn not_running() -> RedisError {
        RedisError::Str("ERR the cdc supervisor is not running (see the Redis log)")
    }

    pub fn internal() -> RedisError {
        RedisError::Str("ERR internal error in the cdc module (see the Redis log)")
    }
}

/// Run a handler, turning a panic into an error reply (no unwind may cross into Redis).
pub fn guarded(ctx: &Context, args: Vec<RedisString>, f: fn(&Context, Vec<RedisString>) -> RedisResult) -> RedisResult {
    catch_unwind(AssertUnwindSafe(|| f(ctx, args))).unwrap_or_else(|_| Err(errors::internal()))
}

/// `CDC.STATUS` — state, source, position, gtid, lag_ms, events, transactions, tables,
/// snapshot, last_error, uptime_s.
pub fn status(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    if args.len() != 1 {
        return Err(errors::wrong_arity());
    }
    reply_fields(ctx, &STATUS.fields());
    Ok(RedisValue::NoReply)
}

/// `CDC.PAUSE` — stop reading the binlog; the position is kept.
pub fn pause(_ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    if args.len() != 1 {
        return Err(errors::wrong_arity());
    }
    if supervisor::send(Control::Pause) {
        Ok(RedisValue::SimpleStringStatic("OK"))
    } else {
        Err(errors::not_running())
    }
}

/// `CDC.RESUME` — resume reading the binlog from the stored position.
pub fn resume(_ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    if args.len() != 1 {
        return Err(errors::wrong_arity());
    }
    if supervisor::send(Control::Resume) {
        Ok(RedisValue::SimpleStringStatic("OK"))
    } else {
        Err(errors::not_running())
    }
}

/// `CDC.TABLES` — for each captured table: table, stream, entries, last_change_ms.
pub fn tables(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    if args.len() != 1 {
        return Err(errors::wrong_arity());
    }
    let rows: Vec<Vec<(&'static str, StatusValue)>> = STATUS
        .lock()
        .tables
        .iter()
        .map(|(name, t)| {
            vec![
                ("table", StatusValue::Str(name.clone())),
                ("stream", StatusValue::Str(t.stream.clone())),
                ("entries", StatusValue::Int(t.entries)),
                ("last_change_ms", StatusValue::Int(t.last_change_ms)),
            ]
        })
        .collect();
    raw::reply_with_array(ctx.ctx, rows.len() as c_long);
    for r in &rows {
        reply_fields(ctx, r);
    }
    Ok(RedisValue::NoReply)
}

fn reply_fields(ctx: &Context, fields: &[(&'static str, StatusValue)]) {
    raw::reply_with_map(ctx.ctx, fields.len() as c_long);
    for (k, v) in fields {
        ctx.reply(Ok(RedisValue::SimpleStringStatic(k)));
        reply_value(ctx, v);
    }
}

fn reply_value(ctx: &Context, v: &StatusValue) {
    match v {
        StatusValue::Str(s) => {
            ctx.reply(Ok(RedisValue::BulkString(s.clone())));
        }
        StatusValue::Int(i) => {
            ctx.reply(Ok(RedisValue::Integer(*i as i64)));
        }
        StatusValue::List(items) => {
            raw::reply_with_array(ctx.ctx, items.len() as c_long);
            for item in items {
                reply_fields(ctx, item);
            }
        }
    }
}

/// An error for a bad argument, as Redis users expect it.
pub fn bad_arg(msg: String) -> RedisError {
    RedisError::String(format!("ERR {msg}"))
}
