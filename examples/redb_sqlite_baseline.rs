//! The baseline of `benches/redb_to_sqlite.sh`: what a plain program does
//! to move a redb table into SQLite — scan the table, insert every pair with
//! a prepared statement in one transaction, commit — with no verification.
//!
//!     redb_sqlite_baseline gen FILE PAIRS   # a redb file of PAIRS pairs (16-byte keys, 100-byte values), table "kv"
//!     redb_sqlite_baseline copy SRC DST     # the baseline migration; prints pairs/s
//!
//! The SQLite table is the one cutover writes for a `&[u8] → &[u8]` table
//! (same columns and primary key), with SQLite's default settings.

use std::error::Error;
use std::path::Path;
use std::time::Instant;

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

const KV: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");

type Res<T> = Result<T, Box<dyn Error>>;

/// Write `pairs` pairs: 16-byte keys (8 pseudo-random bytes, then the
/// index), 100-byte values, in one write transaction.
fn generate(path: &Path, pairs: u64) -> Res<()> {
    let db = redb::Database::create(path)?;
    let txn = db.begin_write()?;
    {
        let mut table = txn.open_table(KV)?;
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut value = [0u8; 100];
        for i in 0..pairs {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let mut key = [0u8; 16];
            key[..8].copy_from_slice(&x.to_be_bytes());
            key[8..].copy_from_slice(&i.to_be_bytes());
            for (j, chunk) in value.chunks_mut(8).enumerate() {
                let w = x.rotate_left(j as u32).to_le_bytes();
                chunk.copy_from_slice(&w[..chunk.len()]);
            }
            table.insert(&key[..], &value[..])?;
        }
    }
    txn.commit()?;
    Ok(())
}

/// The baseline migration; returns the number of pairs.
fn copy(src: &Path, dst: &Path) -> Res<u64> {
    let db = redb::ReadOnlyDatabase::open(src)?;
    let read = db.begin_read()?;
    let table = read.open_table(KV)?;
    let mut conn = rusqlite::Connection::open(dst)?;
    let tx = conn.transaction()?;
    tx.execute_batch(
        "CREATE TABLE \"kv\" (\"key\" BLOB NOT NULL, \"value\" BLOB NOT NULL, PRIMARY KEY (\"key\"))",
    )?;
    let mut n = 0u64;
    {
        let mut insert = tx.prepare("INSERT INTO \"kv\" (\"key\", \"value\") VALUES (?, ?)")?;
        for entry in table.iter()? {
            let (k, v) = entry?;
            insert.raw_bind_parameter(1, k.value())?;
            insert.raw_bind_parameter(2, v.value())?;
            insert.raw_execute()?;
            n += 1;
        }
    }
    tx.commit()?;
    Ok(n)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("gen") if args.len() == 4 => args[3]
            .parse::<u64>()
            .map_err(|e| -> Box<dyn Error> { format!("PAIRS: {e}").into() })
            .and_then(|n| generate(Path::new(&args[2]), n)),
        Some("copy") if args.len() == 4 => {
            let started = Instant::now();
            copy(Path::new(&args[2]), Path::new(&args[3])).map(|n| {
                let s = started.elapsed().as_secs_f64();
                println!("{n} pairs in {s:.3} s: {:.0} pairs/s", n as f64 / s);
            })
        }
        _ => Err("usage: redb_sqlite_baseline gen FILE PAIRS | copy SRC DST".into()),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
