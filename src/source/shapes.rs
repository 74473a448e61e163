//! Table shapes kept across reader sessions of this process (pause/resume, reconnects), so that
//! a restarted reader need not re-read information_schema for shapes it followed itself.

use redis_cdc_core::model::position::Position;
use redis_cdc_core::schema::Shapes;

/// Shapes kept across reader sessions (pause/resume, reconnects): the shapes followed up to
/// the end of the last DDL seen, for the source they came from.
static SAVED: std::sync::Mutex<Option<(String, Position, Shapes)>> = std::sync::Mutex::new(None);

/// Keep `shapes` of `source`, valid for any binlog position at or after `valid_from` (the end
/// of the last DDL they followed).
pub fn save_shapes(source: &str, valid_from: Position, shapes: Shapes) {
    *SAVED.lock().unwrap_or_else(|p| p.into_inner()) =
        Some((source.to_string(), valid_from, shapes));
}

/// The saved shapes of `source` when they are valid at `start`, else none (they will be read
/// from information_schema again). Returns the shapes and the position they are valid from.
pub fn restore_shapes(source: &str, start: &Position) -> (Shapes, Position) {
    let saved = SAVED.lock().unwrap_or_else(|p| p.into_inner()).take();
    match saved {
        Some((s, from, shapes)) if s == source && from <= *start => (shapes, from),
        _ => (Shapes::new(), start.clone()),
    }
}
