//! Hostile bytes (issue 5): arbitrary and mutated TABLE_MAP and rows events go through the
//! path the live reader takes — `Event::read_data`, `TableSchema::from_table_map`,
//! `rows::for_each_row` (which decodes every value) — and must come back as errors, never as a
//! panic.
//!
//! Seeds: real table maps and rows events of the fixture binlogs (../shared/fixtures, skipped
//! with a notice when absent) and a table map built here with one column of every type the
//! module decodes, with arbitrary row bytes. Mutations: byte flips, truncation, insertion,
//! and swapped table maps.
//!
//! CI runs 2000 cases per property; run longer with
//! `PROPTEST_CASES=1000000 cargo test --release --test main fuzz_decode::`.

use mysql_common::binlog::consts::{BinlogVersion, EventType};
use mysql_common::binlog::events::{Event, EventData, FormatDescriptionEvent};
use mysql_common::binlog::BinlogFile;
use mysql_common::constants::ColumnType;
use proptest::prelude::*;
use redis_cdc_core::assemble::Flavor;
use redis_cdc_core::decode::rows::for_each_row;
use redis_cdc_core::schema::TableSchema;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

const HEADER_LEN: usize = 19;

/// One table map and a rows event that uses it, as raw bodies, with the FDE of their file.
#[derive(Clone)]
struct Seed {
    fde: FormatDescriptionEvent<'static>,
    /// Trailing checksum bytes the FDE announces (0 or 4).
    checksum_len: usize,
    tme: Vec<u8>,
    rows_type: u8,
    rows: Vec<u8>,
}

fn fixture_dir() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/mysql-binlogs");
    p.is_dir().then_some(p)
}

fn serialized_len(ev: &Event) -> usize {
    let mut buf = Vec::new();
    ev.write(BinlogVersion::Version4, &mut buf)
        .expect("write event");
    buf.len()
}

/// (table map, rows) pairs of every fixture file.
fn fixture_seeds() -> Vec<Seed> {
    let Some(dir) = fixture_dir() else {
        eprintln!(
            "NOTICE: ../shared/fixtures/mysql-binlogs is absent: fuzzing the built seeds only"
        );
        return Vec::new();
    };
    let mut seeds = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    names.sort();
    for path in names {
        if path.extension().is_some_and(|e| e == "md")
            || path.file_name().is_some_and(|n| n == "LICENSE-MIT")
        {
            continue;
        }
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        let Ok(binlog) = BinlogFile::new(BinlogVersion::Version4, std::io::BufReader::new(file))
        else {
            continue;
        };
        let mut maps: std::collections::HashMap<u64, Vec<u8>> = Default::default();
        for ev in binlog.flatten() {
            match ev.read_data() {
                Ok(Some(EventData::TableMapEvent(tme))) => {
                    maps.insert(tme.table_id(), ev.data().to_vec());
                }
                Ok(Some(EventData::RowsEvent(rows))) => {
                    if let Some(tme) = maps.get(&rows.table_id()) {
                        let checksum_len = serialized_len(&ev) - HEADER_LEN - ev.data().len();
                        seeds.push(Seed {
                            fde: ev.fde().clone(),
                            checksum_len,
                            tme: tme.clone(),
                            rows_type: ev.header().event_type_raw(),
                            rows: ev.data().to_vec(),
                        });
                    }
                }
                _ => {}
            }
        }
    }
    seeds
}

fn lenenc(out: &mut Vec<u8>, n: u64) {
    if n < 251 {
        out.push(n as u8);
    } else if n < 1 << 16 {
        out.push(0xfc);
        out.extend_from_slice(&(n as u16).to_le_bytes());
    } else {
        out.push(0xfd);
        out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
    }
}

/// Columns of the built table: (type, metadata bytes, name).
fn built_columns() -> Vec<(ColumnType, Vec<u8>, &'static str)> {
    use ColumnType::*;
    vec![
        (MYSQL_TYPE_LONG, vec![], "id"),
        (MYSQL_TYPE_TINY, vec![], "ti"),
        (MYSQL_TYPE_SHORT, vec![], "si"),
        (MYSQL_TYPE_INT24, vec![], "mi"),
        (MYSQL_TYPE_LONGLONG, vec![], "bi"),
        (MYSQL_TYPE_NEWDECIMAL, vec![20, 6], "dec"),
        (MYSQL_TYPE_FLOAT, vec![4], "f"),
        (MYSQL_TYPE_DOUBLE, vec![8], "d"),
        (MYSQL_TYPE_BIT, vec![3, 1], "b"),
        (MYSQL_TYPE_DATE, vec![], "dt"),
        (MYSQL_TYPE_DATETIME2, vec![3], "dtm"),
        (MYSQL_TYPE_TIMESTAMP2, vec![6], "ts"),
        (MYSQL_TYPE_TIME2, vec![1], "tm"),
        (MYSQL_TYPE_YEAR, vec![], "y"),
        (MYSQL_TYPE_VARCHAR, vec![200, 0], "vc"),
        (MYSQL_TYPE_STRING, vec![0xfe, 40], "ch"),
        (MYSQL_TYPE_STRING, vec![0xf7, 1], "en"),
        (MYSQL_TYPE_STRING, vec![0xf8, 1], "st"),
        (MYSQL_TYPE_BLOB, vec![2], "bl"),
        (MYSQL_TYPE_GEOMETRY, vec![4], "g"),
        (MYSQL_TYPE_JSON, vec![4], "j"),
    ]
}

/// A TABLE_MAP body for `db.t` with the built columns, names, signedness and enum/set labels.
fn built_table_map(cols: &[(ColumnType, Vec<u8>, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&42u64.to_le_bytes()[..6]);
    b.extend_from_slice(&1u16.to_le_bytes());
    for name in ["db", "t"] {
        b.push(name.len() as u8);
        b.extend_from_slice(name.as_bytes());
        b.push(0);
    }
    lenenc(&mut b, cols.len() as u64);
    for (t, _, _) in cols {
        b.push(*t as u8);
    }
    let meta: Vec<u8> = cols.iter().flat_map(|(_, m, _)| m.clone()).collect();
    lenenc(&mut b, meta.len() as u64);
    b.extend_from_slice(&meta);
    b.extend(std::iter::repeat_n(0xffu8, cols.len().div_ceil(8)));
    // Optional metadata: SIGNEDNESS (1), COLUMN_NAME (4), SET_STR_VALUE (5), ENUM_STR_VALUE (6),
    // SIMPLE_PRIMARY_KEY (8).
    let mut tlv = |ty: u8, v: Vec<u8>| {
        b.push(ty);
        lenenc(&mut b, v.len() as u64);
        b.extend_from_slice(&v);
    };
    let numeric = cols.iter().filter(|(t, _, _)| t.is_numeric_type()).count();
    let mut signedness = vec![0u8; numeric.div_ceil(8)];
    if let Some(first) = signedness.first_mut() {
        *first = 0b0101_0000;
    }
    tlv(1, signedness);
    let mut names = Vec::new();
    for (_, _, n) in cols {
        lenenc(&mut names, n.len() as u64);
        names.extend_from_slice(n.as_bytes());
    }
    tlv(4, names);
    let labels = |list: &[&str]| {
        let mut v = Vec::new();
        lenenc(&mut v, list.len() as u64);
        for s in list {
            lenenc(&mut v, s.len() as u64);
            v.extend_from_slice(s.as_bytes());
        }
        v
    };
    tlv(5, labels(&["x", "y", "z"]));
    tlv(6, labels(&["a", "b"]));
    tlv(8, vec![0]);
    b
}

/// A WRITE_ROWS v1 body for the built table with `row` as the row bytes.
fn built_rows(n: usize, row: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&42u64.to_le_bytes()[..6]);
    b.extend_from_slice(&0u16.to_le_bytes());
    lenenc(&mut b, n as u64);
    b.extend(std::iter::repeat_n(0xffu8, n.div_ceil(8)));
    b.extend_from_slice(row);
    b
}

fn built_seed(row: &[u8]) -> Seed {
    built_seed_of(&built_columns(), row)
}

fn built_seed_of(cols: &[(ColumnType, Vec<u8>, &str)], row: &[u8]) -> Seed {
    Seed {
        fde: FormatDescriptionEvent::new(BinlogVersion::Version4),
        checksum_len: 0,
        tme: built_table_map(cols),
        rows_type: EventType::WRITE_ROWS_EVENT_V1 as u8,
        rows: built_rows(cols.len(), row),
    }
}

/// An event with a consistent header around `body`.
fn event(seed: &Seed, type_raw: u8, body: &[u8]) -> Option<Event> {
    let size = HEADER_LEN + body.len() + seed.checksum_len;
    let mut bytes = Vec::with_capacity(size);
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.push(type_raw);
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&u32::try_from(size).ok()?.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&0u16.to_le_bytes());
    bytes.extend_from_slice(body);
    bytes.extend(std::iter::repeat_n(0u8, seed.checksum_len));
    Event::read(&seed.fde, &bytes[..]).ok()
}

/// What the reader does with a table map and a rows event; errors are fine, panics are not.
fn decode(seed: &Seed, tme_body: &[u8], rows_body: &[u8]) -> usize {
    let Some(tme_ev) = event(seed, EventType::TABLE_MAP_EVENT as u8, tme_body) else {
        return 0;
    };
    let Some(rows_ev) = event(seed, seed.rows_type, rows_body) else {
        return 0;
    };
    let Ok(Some(EventData::TableMapEvent(tme))) = tme_ev.read_data() else {
        return 0;
    };
    STAGES[0].fetch_add(1, Ordering::Relaxed);
    let Ok(schema) = TableSchema::from_table_map(&tme, None, Flavor::MySql) else {
        return 0;
    };
    STAGES[1].fetch_add(1, Ordering::Relaxed);
    let Ok(Some(EventData::RowsEvent(rows))) = rows_ev.read_data() else {
        return 0;
    };
    STAGES[2].fetch_add(1, Ordering::Relaxed);
    let mut n = 0;
    let r = for_each_row(&rows, &schema, |_| {
        n += 1;
        Ok(())
    });
    if n > 0 {
        STAGES[3].fetch_add(1, Ordering::Relaxed);
    }
    if r.is_ok() {
        STAGES[4].fetch_add(1, Ordering::Relaxed);
    }
    n
}

/// How far the cases got: table map parsed, schema built, rows event parsed, a row decoded,
/// the whole event decoded (printed with `--nocapture`, to check the fuzzing reaches deep).
static STAGES: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

fn report(name: &str) {
    let s: Vec<u64> = STAGES.iter().map(|a| a.load(Ordering::Relaxed)).collect();
    eprintln!("{name}: cumulative cases reaching table map/schema/rows/a row/all rows: {s:?}");
}

/// Panics seen by the hook, with their location (tests run on several threads).
fn panics() -> &'static Mutex<Vec<String>> {
    static P: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    P.get_or_init(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let loc = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let msg = info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            if let Some(p) = P.get() {
                p.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!("{loc}: {msg}"));
            }
            default_hook(info);
        }));
        Mutex::new(Vec::new())
    })
}

fn must_not_panic(seed: &Seed, tme: &[u8], rows: &[u8]) -> Result<(), TestCaseError> {
    panics();
    static CALLS: AtomicU64 = AtomicU64::new(0);
    if CALLS.fetch_add(1, Ordering::Relaxed) % 2000 == 1999 {
        report("after another 2000 cases");
    }
    match catch_unwind(AssertUnwindSafe(|| decode(seed, tme, rows))) {
        Ok(_) => Ok(()),
        Err(_) => {
            let last = panics()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .last()
                .cloned()
                .unwrap_or_default();
            Err(TestCaseError::fail(format!(
                "panic at {last}\ntable map {tme:02x?}\nrows {rows:02x?}"
            )))
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Xor(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        4 => (any::<usize>(), 1u8..).prop_map(|(i, b)| Mutation::Xor(i, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, v)| Mutation::Insert(i, v)),
        1 => (any::<usize>(), 1usize..8).prop_map(|(i, n)| Mutation::Remove(i, n)),
    ]
}

fn apply(mut body: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let len = body.len().max(1);
        match m {
            Mutation::Set(i, b) => {
                if let Some(x) = body.get_mut(i % len) {
                    *x = *b;
                }
            }
            Mutation::Xor(i, b) => {
                if let Some(x) = body.get_mut(i % len) {
                    *x ^= *b;
                }
            }
            Mutation::Truncate(i) => body.truncate(i % len),
            Mutation::Insert(i, v) => {
                let at = (i % len).min(body.len());
                body.splice(at..at, v.iter().copied());
            }
            Mutation::Remove(i, n) => {
                let at = (i % len).min(body.len());
                let end = (at + n).min(body.len());
                body.drain(at..end);
            }
        }
    }
    body
}

fn all_seeds() -> &'static Vec<Seed> {
    static S: OnceLock<Vec<Seed>> = OnceLock::new();
    S.get_or_init(|| {
        let mut s = fixture_seeds();
        s.push(built_seed(&[0u8; 64]));
        s
    })
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[test]
fn seeds_decode_unmutated() {
    let seeds = all_seeds();
    let decoded: usize = seeds.iter().map(|s| decode(s, &s.tme, &s.rows)).sum();
    eprintln!("{} seeds, {decoded} rows decoded unmutated", seeds.len());
    assert!(decoded > 0 || fixture_dir().is_none());
}

proptest! {
    #![proptest_config(config())]

    /// Mutated real (and built) table maps and rows events: errors, never a panic.
    #[test]
    fn mutated_events_never_panic(
        which in any::<usize>(),
        tme_muts in proptest::collection::vec(mutation(), 0..4),
        rows_muts in proptest::collection::vec(mutation(), 0..6),
    ) {
        let seeds = all_seeds();
        let seed = &seeds[which % seeds.len()];
        let tme = apply(seed.tme.clone(), &tme_muts);
        let rows = apply(seed.rows.clone(), &rows_muts);
        must_not_panic(seed, &tme, &rows)?;
    }

    /// The table map with every column type and arbitrary row bytes (values of any shape).
    #[test]
    fn arbitrary_values_of_every_column_type_never_panic(
        row in proptest::collection::vec(any::<u8>(), 0..400),
        tme_muts in proptest::collection::vec(mutation(), 0..2),
    ) {
        let seed = built_seed(&row);
        let tme = apply(seed.tme.clone(), &tme_muts);
        must_not_panic(&seed, &tme, &seed.rows)?;
    }

    /// One to three columns of any type with arbitrary metadata bytes, arbitrary values.
    #[test]
    fn arbitrary_values_and_metadata_per_column_never_panic(
        picks in proptest::collection::vec((any::<usize>(), proptest::collection::vec(any::<u8>(), 0..3), any::<bool>()), 1..4),
        row in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let all = built_columns();
        let cols: Vec<_> = picks
            .iter()
            .map(|(i, meta, keep)| {
                let (t, m, n) = &all[i % all.len()];
                (*t, if *keep { m.clone() } else { meta.clone() }, *n)
            })
            .collect();
        // Mostly non-NULL values: a null bitmap of zeros in front of the arbitrary bytes.
        let mut bytes = vec![0u8; cols.len().div_ceil(8)];
        bytes.extend_from_slice(&row);
        let seed = built_seed_of(&cols, &bytes);
        must_not_panic(&seed, &seed.tme, &seed.rows)?;
    }

    /// Table map of one file, rows of another: column counts and types disagree.
    #[test]
    fn mismatched_table_maps_never_panic(a in any::<usize>(), b in any::<usize>()) {
        let seeds = all_seeds();
        let s = &seeds[a % seeds.len()];
        let r = &seeds[b % seeds.len()];
        let seed = Seed { rows_type: r.rows_type, ..s.clone() };
        must_not_panic(&seed, &s.tme, &r.rows)?;
    }

    /// Completely arbitrary bodies.
    #[test]
    fn arbitrary_bytes_never_panic(
        tme in proptest::collection::vec(any::<u8>(), 0..200),
        rows in proptest::collection::vec(any::<u8>(), 0..200),
        rows_type in prop_oneof![Just(23u8), Just(24u8), Just(25u8), Just(30u8), Just(31u8), Just(32u8), Just(39u8)],
    ) {
        let seed = Seed { rows_type, ..built_seed(&[]) };
        must_not_panic(&seed, &tme, &rows)?;
    }
}

#[test]
fn built_seed_decodes() {
    let seed = built_seed(&[0u8; 64]);
    let ev = event(&seed, EventType::TABLE_MAP_EVENT as u8, &seed.tme).expect("event");
    let Ok(Some(EventData::TableMapEvent(tme))) = ev.read_data() else {
        panic!("tme")
    };
    let schema = TableSchema::from_table_map(&tme, None, Flavor::MySql).expect("schema");
    assert_eq!(schema.columns.len(), built_columns().len());
}

/// Found by `mutated_events_never_panic`: a table map of zero columns made every row take zero
/// bytes, and the row loop never ended (in the reader: entries appended until out of memory).
#[test]
fn zero_column_table_map_does_not_loop_forever() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let seed = built_seed_of(&[], &[0u8; 8]);
        let _ = tx.send(decode(&seed, &seed.tme, &seed.rows));
    });
    let rows = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("decoding a zero-column rows event did not finish");
    assert_eq!(rows, 0);
}

/// Found by `mutated_events_never_panic`: a DECIMAL inside binary JSON with a scale above its
/// precision made mysql_common allocate exabytes (an abort, not a panic).
#[test]
fn json_decimal_with_scale_above_precision_is_an_error() {
    let jsonb = [0x0f, 0xf6, 0x04, 10, 20, 0, 0];
    let mut row = vec![0u8];
    row.extend_from_slice(&(jsonb.len() as u32).to_le_bytes());
    row.extend_from_slice(&jsonb);
    let seed = built_seed_of(&[(ColumnType::MYSQL_TYPE_JSON, vec![4], "j")], &row);
    assert_eq!(decode(&seed, &seed.tme, &seed.rows), 0);
    // The same shape with a sane DECIMAL(4,2) decodes.
    let jsonb = [0x0f, 0xf6, 0x04, 4, 2, 0x81, 0x0c];
    let mut row = vec![0u8];
    row.extend_from_slice(&(jsonb.len() as u32).to_le_bytes());
    row.extend_from_slice(&jsonb);
    let seed = built_seed_of(&[(ColumnType::MYSQL_TYPE_JSON, vec![4], "j")], &row);
    assert_eq!(decode(&seed, &seed.tme, &seed.rows), 1);
}
