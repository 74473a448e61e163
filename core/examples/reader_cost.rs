//! The reader thread's work per row without its I/O: binlog events of the `make bench` workload
//! (benches/cdc.rs: table `bench.items`, transactions of 70% INSERTs, 20% UPDATEs, 10%
//! DELETEs, as MariaDB 10.11 logs them with FULL metadata and the default latin1 charset)
//! pushed through the assembler, which decodes the rows and renders the entries in one format.
//!
//! Deterministic, so that instruction counts compare across commits (wall-clock time on a
//! shared machine does not):
//!
//! ```text
//! cargo build --release -p redis-cdc-core --example reader_cost
//! valgrind --tool=callgrind --toggle-collect='reader_cost::assemble' \
//!     target/release/examples/reader_cost debezium
//! callgrind_annotate --inclusive=yes callgrind.out.<pid>
//! ```
//!
//! Arguments: the format (`flat`, `debezium`, `debezium-extended`; default `flat`), the number
//! of transactions (default 20) and of changes per transaction (default 1000). It prints the
//! entries' count, a digest of their text (the Debezium processing time left out: it is the
//! clock's) that must not change when only speed does, and the time per row (noisy).
//! `READER_COST_SHOW=1,2` prints those entries; `READER_COST_BINLOG=<file>` reads the events
//! from a binlog file instead (every table in it taken for `bench.items`).

use mysql_common::binlog::consts::BinlogVersion;
use mysql_common::binlog::events::{Event, FormatDescriptionEvent};
use redis_cdc_core::assemble::{Assembler, Flavor, Output, Settings};
use redis_cdc_core::filter::TableFilter;
use redis_cdc_core::format::Format;
use redis_cdc_core::model::position::{Checkpoint, Position};
use redis_cdc_core::schema::{InfoColumn, Shapes};
use std::time::Instant;

const TABLE_ID: u64 = 18;
/// The TABLE_MAP body MariaDB 10.11 writes for `bench.items` (binlog_row_metadata=FULL), table
/// id 18.
const TABLE_MAP: &str = "12000000000001000562656e636800056974656d7300080803f60f12fefcfc090c02400006f7010204c0010100020308022e042c02696403717479057072696365046e616d65077570646174656406737461747573046e6f74650561747472730a0108061c04036e6577047061696407736869707065640963616e63656c6c6564080100";
/// MariaDB splits a statement's rows into events of about this many bytes.
const ROWS_EVENT_BYTES: usize = 8000;

/// `bench.items` as information_schema describes it (MariaDB needs it for the JSON alias).
fn shape() -> Vec<InfoColumn> {
    let col = |name: &str, data_type: &str, column_type: &str, collation: Option<u16>| InfoColumn {
        name: name.into(),
        data_type: data_type.into(),
        column_type: column_type.into(),
        collation,
        charset: collation.map(|c| if c == 8 { "latin1" } else { "utf8mb4" }.into()),
        pk_ordinal: (name == "id").then_some(1),
        is_json: name == "attrs",
        period: None,
        invisible: false,
        hash: false,
    };
    vec![
        col("id", "bigint", "bigint(20)", None),
        col("qty", "int", "int(11)", None),
        col("price", "decimal", "decimal(12,2)", None),
        col("name", "varchar", "varchar(64)", Some(8)),
        col("updated", "datetime", "datetime(6)", None),
        col(
            "status",
            "enum",
            "enum('new','paid','shipped','cancelled')",
            Some(8),
        ),
        col("note", "text", "text", Some(8)),
        col("attrs", "longtext", "longtext", Some(46)),
    ]
}

/// One row of `bench.items`.
#[derive(Clone)]
struct Item {
    id: u64,
    qty: u32,
    price: (u32, u8),
    /// DATETIME(6): (day of May 2024, seconds of the day, microseconds).
    updated: (u8, u32, u32),
    status: u8,
}

impl Item {
    fn new(id: u64) -> Item {
        Item {
            id,
            qty: (id % 1000) as u32,
            price: ((id % 100_000) as u32, (id % 100) as u8),
            updated: (1, 12 * 3600, (id % 1_000_000) as u32),
            status: (id % 4) as u8,
        }
    }

    /// The row image: null bitmap, then each value in its binlog encoding.
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(0); // no NULLs
        out.extend_from_slice(&self.id.to_le_bytes());
        out.extend_from_slice(&self.qty.to_le_bytes());
        // DECIMAL(12,2): 1 leading integer digit, a group of 9, 2 fraction digits; sign bit set.
        out.push(0x80);
        out.extend_from_slice(&self.price.0.to_be_bytes());
        out.push(self.price.1);
        let name = format!("item-{}-name", self.id);
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        let (day, secs, micros) = self.updated;
        let ym = 2024u64 * 13 + 5;
        let ymd = (ym << 5) | day as u64;
        let hms = (((secs / 3600) << 12) | ((secs / 60 % 60) << 6) | (secs % 60)) as u64;
        let packed = ((ymd << 17) | hms) + 0x80_0000_0000;
        out.extend_from_slice(&packed.to_be_bytes()[3..]);
        out.extend_from_slice(&micros.to_be_bytes()[1..]);
        out.push(self.status + 1);
        let note = format!("note for item {}: lorem ipsum dolor sit amet", self.id);
        out.extend_from_slice(&(note.len() as u16).to_le_bytes());
        out.extend_from_slice(note.as_bytes());
        let attrs = format!(
            "{{\"id\":{},\"tags\":[\"a\",\"b\"],\"w\":{}.5}}",
            self.id,
            self.id % 1000
        );
        out.extend_from_slice(&(attrs.len() as u32).to_le_bytes());
        out.extend_from_slice(attrs.as_bytes());
    }
}

/// A binlog being written: events with their positions.
struct Binlog {
    fde: FormatDescriptionEvent<'static>,
    pos: u32,
    events: Vec<Event>,
}

impl Binlog {
    fn raw(&mut self, type_: u8, body: &[u8], flags: u16) {
        let size = 19 + body.len() as u32;
        self.pos += size;
        let mut b = Vec::with_capacity(size as usize);
        b.extend_from_slice(&1_714_564_800u32.to_le_bytes());
        b.push(type_);
        b.extend_from_slice(&1u32.to_le_bytes()); // server id
        b.extend_from_slice(&size.to_le_bytes());
        b.extend_from_slice(&self.pos.to_le_bytes());
        b.extend_from_slice(&flags.to_le_bytes());
        b.extend_from_slice(body);
        let ev = Event::read(&self.fde, &b[..]).expect("synthetic event reads");
        self.events.push(ev);
    }

    /// A statement's rows as V1 rows events (MariaDB's) of `type_` (0x17 write, 0x18 update,
    /// 0x19 delete), each image a list of items.
    fn rows(&mut self, type_: u8, images: &[Vec<&Item>]) {
        let head = |last: bool| {
            let mut b = TABLE_ID.to_le_bytes()[..6].to_vec();
            b.extend_from_slice(&u16::from(last).to_le_bytes()); // end of statement
            b.push(8);
            b.push(0xff);
            if type_ == 0x18 {
                b.push(0xff);
            }
            b
        };
        let mut rows = Vec::new();
        for (i, image) in images.iter().enumerate() {
            for item in image {
                item.encode(&mut rows);
            }
            if rows.len() >= ROWS_EVENT_BYTES || i + 1 == images.len() {
                let mut body = head(i + 1 == images.len());
                body.append(&mut rows);
                self.raw(type_, &body, 0);
            }
        }
    }
}

/// The events of `txns` transactions of `per_txn` changes each (benches/cdc.rs `generate`).
fn workload(txns: usize, per_txn: usize) -> Vec<Event> {
    let mut log = Binlog {
        fde: FormatDescriptionEvent::new(BinlogVersion::Version4),
        pos: 4,
        events: Vec::new(),
    };
    let table_map: Vec<u8> = (0..TABLE_MAP.len() / 2)
        .map(|i| u8::from_str_radix(&TABLE_MAP[2 * i..2 * i + 2], 16).expect("hex"))
        .collect();
    let mut live: std::collections::VecDeque<Item> = Default::default();
    let mut next_id = 1u64;
    for t in 0..txns {
        let mut gtid = (t as u64 + 1).to_le_bytes().to_vec();
        gtid.extend_from_slice(&[0, 0, 0, 0, 0x0c, 0, 0, 0, 0, 0, 0]);
        log.raw(0xa2, &gtid, 8);
        log.raw(19, &table_map, 0);
        match t % 10 {
            0..=6 => {
                let items: Vec<Item> = (next_id..next_id + per_txn as u64).map(Item::new).collect();
                next_id += per_txn as u64;
                log.rows(0x17, &items.iter().map(|i| vec![i]).collect::<Vec<_>>());
                live.extend(items);
            }
            7 | 8 => {
                // qty = qty + 1, status = 'paid', updated = NOW(6)
                let mut pairs = Vec::new();
                for (n, item) in live.iter_mut().take(per_txn).enumerate() {
                    let before = item.clone();
                    item.qty += 1;
                    item.status = 1;
                    item.updated = (20, 9 * 3600 + t as u32, 100_000 + n as u32);
                    pairs.push((before, item.clone()));
                }
                log.rows(
                    0x18,
                    &pairs.iter().map(|(b, a)| vec![b, a]).collect::<Vec<_>>(),
                );
            }
            _ => {
                let gone: Vec<Item> = live.drain(..per_txn.min(live.len())).collect();
                log.rows(0x19, &gone.iter().map(|i| vec![i]).collect::<Vec<_>>());
            }
        }
        log.raw(16, &(t as u64 + 100).to_le_bytes(), 0);
    }
    log.events
}

fn settings(format: Format) -> Settings {
    Settings {
        filter: TableFilter::new("*.*", "").expect("filter"),
        format,
        stream_prefix: "cdc:".into(),
        flavor: Flavor::MariaDb,
        full_metadata: true,
        source_id: 1,
        schema_changes: false,
        mirror: Default::default(),
        streams: true,
        columns: Default::default(),
        cluster: false,
    }
}

/// What is measured: every event through a new assembler, the outputs kept (the writer drops
/// them, not the reader).
#[inline(never)]
fn assemble(events: &[Event], format: Format, shapes: Shapes) -> Vec<Output> {
    let start = Checkpoint {
        position: Position::new("mysql-bin.000001", 4),
        ..Checkpoint::default()
    };
    let mut assembler = Assembler::new(settings(format), &start, false, shapes);
    let mut lookup = |_: &str, _: &str| -> Result<Vec<InfoColumn>, ()> { Ok(shape()) };
    let mut out = Vec::new();
    let now = Instant::now();
    for ev in events {
        if let Err(e) = assembler.push(ev, now, &mut lookup, &mut out) {
            panic!("push failed: {e:?}");
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let format = Format::parse(args.get(1).map_or("flat", String::as_str)).expect("format");
    let number = |i: usize, default: usize| {
        args.get(i)
            .map_or(default, |a| a.parse().expect("a number"))
    };
    let (txns, per_txn) = (number(2, 20), number(3, 1000));
    let events = match std::env::var("READER_COST_BINLOG") {
        Ok(path) => {
            let f = std::io::BufReader::new(std::fs::File::open(path).expect("binlog file"));
            mysql_common::binlog::BinlogFile::new(BinlogVersion::Version4, f)
                .expect("binlog file")
                .map(|e| e.expect("event"))
                .collect()
        }
        Err(_) => workload(txns, per_txn),
    };
    let mut shapes = Shapes::new();
    shapes.insert(("bench".into(), "items".into()), shape());
    // What the module sets before its reader starts (the Debezium formats' context).
    redis_cdc_core::format::debezium::set_stream_prefix("cdc:");
    redis_cdc_core::format::debezium::set_source(
        Flavor::MariaDb,
        redis_cdc_core::format::debezium::run_id_from([7; 16]),
    );
    let t = Instant::now();
    let out = assemble(&events, format, shapes);
    let elapsed = t.elapsed();
    let mut digest = crc32fast::Hasher::new();
    let (mut entries, mut bytes) = (0usize, 0usize);
    for o in &out {
        let Output::Batch(b) = o else { continue };
        for e in &b.entries {
            entries += 1;
            if std::env::var("READER_COST_SHOW")
                .is_ok_and(|s| s.split(',').any(|n| n == entries.to_string()))
            {
                println!("{:?}", e.fields);
            }
            for (k, v) in &e.fields {
                // The Debezium event ends with the processing time (the clock's): left out.
                let v = match v.rfind(",\"ts_ms\":") {
                    Some(i) if format != Format::Flat && v.starts_with("{\"before\":") => &v[..i],
                    _ => v,
                };
                bytes += k.len() + v.len();
                digest.update(k.as_bytes());
                digest.update(&[0]);
                digest.update(v.as_bytes());
                digest.update(&[0]);
            }
        }
    }
    println!(
        "{}: {entries} entries, {bytes} bytes, digest {:08x}, {:.0} ns/row (wall clock)",
        format.as_str(),
        digest.finalize(),
        elapsed.as_nanos() as f64 / entries.max(1) as f64
    );
}
