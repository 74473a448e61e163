//! The module's INFO section.

use crate::status::InfoValue;
use redis_module::InfoContext;

/// Add `fields` as the module's section: Redis names it after the module (`# cdc`) and
/// prefixes each field (`cdc_<name>`).
pub fn add_section(ctx: &InfoContext, fields: &[(String, InfoValue)]) {
    let mut section = ctx.builder().add_section("");
    for (name, value) in fields {
        section = match match value {
            InfoValue::Str(s) => section.field(name, s.as_str()),
            InfoValue::Int(i) => section.field(name, *i),
        } {
            Ok(s) => s,
            Err(_) => return,
        };
    }
    let _ = section.build_section().and_then(|b| b.build_info());
}
