//! redb-to-sqlite end to end through the real binary, on real redb files
//! written by redb 4 (format v3) and by redb 2.6 (format v2): every built-in
//! type, user-defined types, hostile table names, a cluster of nodes rolling
//! and in parallel, verification naming damaged rows, bad input, a locked
//! source, a full disk, and a kill during the write.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use std::num::{NonZeroU32, NonZeroU64};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rusqlite::types::ValueRef;
use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cutover")
}

struct Sandbox {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
}

impl Sandbox {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().to_path_buf();
        Sandbox {
            state: root.join("state"),
            root,
            _tmp: tmp,
        }
    }

    fn cutover(&self, args: &[&str], paths: &[(&str, &Path)]) -> Output {
        let mut cmd = Command::new(bin());
        cmd.arg("--state-dir").arg(&self.state).args(args);
        for (flag, p) in paths {
            cmd.arg(flag).arg(p);
        }
        cmd.stdin(Stdio::null()).output().expect("run cutover")
    }

    fn run(&self, src: &Path, dst: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["run", "redb-to-sqlite", "--json"];
        args.extend_from_slice(extra);
        self.cutover(&args, &[("--source", src), ("--target", dst)])
    }

    fn verify(&self, src: &Path, dst: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["verify", "redb-to-sqlite", "--json"];
        args.extend_from_slice(extra);
        self.cutover(&args, &[("--source", src), ("--target", dst)])
    }
}

fn events(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

fn summary(out: &Output) -> Value {
    let last = events(out).last().cloned().expect("an event");
    assert_eq!(last["event"], "summary", "last line is the summary: {last}");
    last
}

fn show(out: &Output) -> String {
    format!(
        "code {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn failures(out: &Output) -> String {
    events(out)
        .iter()
        .filter(|e| e["event"] == "item_failed")
        .map(|e| format!("{}: {}", e["item"], e["reason"].as_str().unwrap_or("")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every entry in the directory (names), to prove nothing was left behind;
/// target lock files (`.NAME.cutover-lock`, kept on purpose) aside.
fn listing(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !(n.starts_with('.') && n.ends_with(".cutover-lock")))
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

// ---------------------------------------------------------------------------
// Fixtures: one user-defined type per redb version, and a file of every type.

macro_rules! user_types {
    ($krate:ident) => {
        /// A fixed-width user-defined key (4 bytes).
        #[derive(Debug)]
        pub struct NodeId;

        impl $krate::Value for NodeId {
            type SelfType<'a> = [u8; 4];
            type AsBytes<'a> = [u8; 4];
            fn fixed_width() -> Option<usize> {
                Some(4)
            }
            fn from_bytes<'a>(data: &'a [u8]) -> [u8; 4]
            where
                Self: 'a,
            {
                data.try_into().unwrap()
            }
            fn as_bytes<'a, 'b: 'a>(value: &'a [u8; 4]) -> [u8; 4]
            where
                Self: 'b,
            {
                *value
            }
            fn type_name() -> $krate::TypeName {
                $krate::TypeName::new("myapp::NodeId")
            }
        }

        impl $krate::Key for NodeId {
            fn compare(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
                // Reverse order, so redb's order is not SQLite's.
                b.cmp(a)
            }
        }

        /// A variable-width user-defined value (serialized bytes).
        #[derive(Debug)]
        pub struct Membership;

        impl $krate::Value for Membership {
            type SelfType<'a> = &'a [u8];
            type AsBytes<'a> = &'a [u8];
            fn fixed_width() -> Option<usize> {
                None
            }
            fn from_bytes<'a>(data: &'a [u8]) -> &'a [u8]
            where
                Self: 'a,
            {
                data
            }
            fn as_bytes<'a, 'b: 'a>(value: &'a &'b [u8]) -> &'a [u8]
            where
                Self: 'b,
            {
                value
            }
            fn type_name() -> $krate::TypeName {
                $krate::TypeName::new("myapp::Membership")
            }
        }
    };
}

mod v3types {
    user_types!(redb);
}

mod v2types {
    user_types!(redb2);
}

/// Write a file with a table of (nearly) every built-in type, user-defined
/// types, a multimap and hostile names. The same content for both versions
/// (`NonZero*` exists only in redb 4).
macro_rules! write_all_types {
    ($krate:ident, $types:ident, $path:expr, $nonzero:expr) => {{
        use $krate::{MultimapTableDefinition as M, TableDefinition as T};
        let db = $krate::Database::create($path).expect("create");
        let w = db.begin_write().expect("write txn");
        {
            let mut t = w.open_table(T::<u8, u16>::new("u8s")).unwrap();
            t.insert(0u8, 0u16).unwrap();
            t.insert(255u8, 65535u16).unwrap();
            let mut t = w.open_table(T::<i8, i16>::new("i8s")).unwrap();
            t.insert(-128i8, -32768i16).unwrap();
            t.insert(127i8, 32767i16).unwrap();
            let mut t = w.open_table(T::<u32, i32>::new("u32s")).unwrap();
            t.insert(u32::MAX, i32::MIN).unwrap();
            let mut t = w.open_table(T::<u64, i64>::new("u64s")).unwrap();
            t.insert(0u64, i64::MIN).unwrap();
            t.insert(i64::MAX as u64, i64::MAX).unwrap();
            t.insert(u64::MAX, -1i64).unwrap();
            let mut t = w.open_table(T::<i64, u64>::new("i64s")).unwrap();
            t.insert(-5i64, u64::MAX).unwrap();
            t.insert(5i64, 5u64).unwrap();
            let mut t = w.open_table(T::<u128, i128>::new("u128s")).unwrap();
            t.insert(u128::MAX, i128::MIN).unwrap();
            t.insert(7u128, -7i128).unwrap();
            let mut t = w.open_table(T::<u16, f64>::new("f64s")).unwrap();
            for (i, f) in [
                1.5,
                f64::NAN,
                -0.0,
                0.0,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::MIN_POSITIVE,
            ]
            .into_iter()
            .enumerate()
            {
                t.insert(i as u16, f).unwrap();
            }
            let mut t = w.open_table(T::<u16, f32>::new("f32s")).unwrap();
            t.insert(0u16, 0.1f32).unwrap();
            t.insert(1u16, f32::NAN).unwrap();
            let mut t = w.open_table(T::<bool, char>::new("bools")).unwrap();
            t.insert(false, 'a').unwrap();
            t.insert(true, '✓').unwrap();
            let mut t = w.open_table(T::<&str, String>::new("strings")).unwrap();
            for s in [
                "",
                "ünïcødé ✓",
                "nul\0inside",
                "select",
                "x".repeat(300).as_str(),
            ] {
                t.insert(s, s.to_uppercase()).unwrap();
            }
            let mut t = w.open_table(T::<&[u8], Vec<u8>>::new("bytes")).unwrap();
            t.insert(&b""[..], vec![]).unwrap();
            t.insert(&b"\x00\xff"[..], vec![1u8, 2, 3]).unwrap();
            t.insert(&[7u8; 300][..], vec![9u8; 300]).unwrap();
            let mut t = w
                .open_table(T::<[u8; 16], [u8; 32]>::new("arrays"))
                .unwrap();
            t.insert([1u8; 16], [2u8; 32]).unwrap();
            let mut t = w.open_table(T::<u32, Option<u64>>::new("options")).unwrap();
            t.insert(1u32, Some(10u64)).unwrap();
            t.insert(2u32, None).unwrap();
            let mut t = w
                .open_table(T::<Option<&str>, &str>::new("option_keys"))
                .unwrap();
            t.insert(None, "none").unwrap();
            t.insert(Some(""), "empty").unwrap();
            t.insert(Some("a"), "a").unwrap();
            let mut t = w
                .open_table(T::<(u64, &str), (u32, u8)>::new("tuples"))
                .unwrap();
            t.insert((1u64, "one"), (10u32, 1u8)).unwrap();
            t.insert((2u64, ""), (20u32, 2u8)).unwrap();
            let mut t = w
                .open_table(T::<(Option<u8>, &[u8]), (&str, u16, &[u8])>::new(
                    "tuple_mix",
                ))
                .unwrap();
            t.insert((None, &b"k"[..]), ("s", 3u16, &b"tail"[..]))
                .unwrap();
            t.insert((Some(9u8), &b""[..]), ("", 0u16, &b""[..]))
                .unwrap();
            let mut t = w.open_table(T::<&str, ()>::new("set")).unwrap();
            t.insert("member", ()).unwrap();
            let mut t = w
                .open_table(T::<$types::NodeId, $types::Membership>::new("members"))
                .unwrap();
            t.insert([0, 0, 0, 1], &b"{\"voter\":true}"[..]).unwrap();
            t.insert([0, 0, 0, 2], &b"\x00binary\xff"[..]).unwrap();
            let mut t = w
                .open_table(T::<u64, Option<$types::Membership>>::new("opt_user"))
                .unwrap();
            t.insert(1u64, Some(&b"m"[..])).unwrap();
            t.insert(2u64, None).unwrap();
            let mut m = w
                .open_multimap_table(M::<u64, &str>::new("watchers"))
                .unwrap();
            m.insert(1u64, "a").unwrap();
            m.insert(1u64, "b").unwrap();
            m.insert(2u64, "c").unwrap();
            for name in [
                "select",
                "a\"quote",
                "Users",
                "users",
                "sqlite_stat",
                "_cutover_source",
                "with space",
            ] {
                let mut t = w.open_table(T::<u8, u8>::new(name)).unwrap();
                t.insert(1u8, name.len() as u8).unwrap();
            }
            if $nonzero {
                nonzero_table(&w);
            }
        }
        w.commit().expect("commit");
    }};
}

fn nonzero_table(w: &redb::WriteTransaction) {
    let mut t = w
        .open_table(redb::TableDefinition::<NonZeroU32, Option<NonZeroU64>>::new("nonzero"))
        .unwrap();
    t.insert(
        NonZeroU32::new(1).unwrap(),
        Some(NonZeroU64::new(5).unwrap()),
    )
    .unwrap();
    t.insert(NonZeroU32::new(2).unwrap(), None).unwrap();
}

fn all_types_v3(path: &Path) {
    write_all_types!(redb, v3types, path, true);
}

fn all_types_v2(path: &Path) {
    // redb 2 has no NonZero types.
    fn nonzero_table(_: &redb2::WriteTransaction) {}
    write_all_types!(redb2, v2types, path, false);
}

/// A simple file of `n` pairs in one table, written by redb 4.
fn kv_file(path: &Path, n: u64, value_len: usize) {
    let db = redb::Database::create(path).expect("create");
    let w = db.begin_write().expect("w");
    {
        let mut t = w
            .open_table(redb::TableDefinition::<&[u8], &[u8]>::new("kv"))
            .unwrap();
        let value = vec![0x5au8; value_len];
        for i in 0..n {
            t.insert(&i.to_be_bytes()[..], &value[..]).unwrap();
        }
    }
    w.commit().expect("commit");
}

/// Every row of a SQLite table as text, for comparisons.
fn rows(db: &Path, table: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).expect("open sqlite");
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM \"{}\"", table.replace('"', "\"\"")))
        .unwrap_or_else(|e| panic!("{table}: {e}"));
    let n = stmt.column_count();
    let mut out: Vec<String> = stmt
        .query_map([], |r| {
            let mut cells = Vec::new();
            for i in 0..n {
                cells.push(match r.get_ref(i)? {
                    ValueRef::Null => "NULL".to_string(),
                    ValueRef::Integer(i) => format!("int:{i}"),
                    ValueRef::Real(f) => format!("real:{f:?}"),
                    ValueRef::Text(t) => format!("text:{:?}", String::from_utf8_lossy(t)),
                    ValueRef::Blob(b) => format!("blob:{b:02x?}"),
                });
            }
            Ok(cells.join("|"))
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    out.sort();
    out
}

fn tables(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).expect("open sqlite");
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

// ---------------------------------------------------------------------------

#[test]
fn every_type_migrates_from_both_formats_to_the_same_sqlite() {
    let sb = Sandbox::new();
    let (v3, v2) = (sb.root.join("v3.redb"), sb.root.join("v2.redb"));
    all_types_v3(&v3);
    all_types_v2(&v2);
    let before = (std::fs::read(&v3).unwrap(), std::fs::read(&v2).unwrap());
    let (t3, t2) = (sb.root.join("v3.sqlite"), sb.root.join("v2.sqlite"));

    for (src, dst) in [(&v3, &t3), (&v2, &t2)] {
        let out = sb.run(src, dst, &["--verify", "full"]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let s = summary(&out);
        assert_eq!(s["items_verified"], 1, "{s}");
        // One `table` line per redb table, each compared in full.
        let per_table: Vec<Value> = events(&out)
            .into_iter()
            .filter(|e| e["event"] == "table")
            .collect();
        assert!(per_table.len() >= 25, "{}", show(&out));
        for t in &per_table {
            assert_eq!(t["read"], t["written"], "{t}");
            assert_eq!(t["read"], t["verified"], "{t}");
            assert_eq!(t["checksum_equal"], true, "{t}");
            assert_eq!(t["errors"], 0, "{t}");
        }
        // Values with no exact SQLite form are reported, not rounded.
        let warnings: Vec<String> = events(&out)
            .iter()
            .filter(|e| e["event"] == "warning")
            .map(|e| e["message"].as_str().unwrap_or("").to_string())
            .collect();
        assert!(
            warnings.iter().any(|w| w.contains("'f64s'")),
            "{warnings:?}"
        );
    }
    // The sources were not changed by reading them.
    assert_eq!(std::fs::read(&v3).unwrap(), before.0);
    assert_eq!(std::fs::read(&v2).unwrap(), before.1);

    // Natural SQLite types.
    assert_eq!(
        rows(&t3, "i8s"),
        vec!["int:-128|int:-32768", "int:127|int:32767"]
    );
    assert_eq!(
        rows(&t3, "u64s"),
        vec![
            "blob:[ff, ff, ff, ff, ff, ff, ff, ff]|int:-1".to_string(),
            "int:0|int:-9223372036854775808".to_string(),
            "int:9223372036854775807|int:9223372036854775807".to_string(),
        ]
    );
    assert!(rows(&t3, "u128s").contains(&format!("text:\"{}\"|text:\"{}\"", u128::MAX, i128::MIN)));
    let floats = rows(&t3, "f64s");
    assert!(floats.contains(&"int:0|real:1.5".to_string()), "{floats:?}");
    assert!(floats.contains(&"int:4|real:inf".to_string()), "{floats:?}");
    assert!(
        floats.iter().any(|r| r.starts_with("int:1|blob:")),
        "NaN kept exactly: {floats:?}"
    );
    assert!(
        floats.iter().any(|r| r.starts_with("int:2|blob:")),
        "-0.0 kept exactly: {floats:?}"
    );
    assert_eq!(
        rows(&t3, "bools"),
        vec!["int:0|text:\"a\"", "int:1|text:\"✓\""]
    );
    assert!(
        rows(&t3, "strings").contains(&"text:\"nul\\0inside\"|text:\"NUL\\0INSIDE\"".to_string())
    );
    assert!(rows(&t3, "bytes").contains(&"blob:[00, ff]|blob:[01, 02, 03]".to_string()));
    assert_eq!(rows(&t3, "options"), vec!["int:1|int:10", "int:2|NULL"]);
    assert_eq!(
        rows(&t3, "option_keys"),
        vec![
            "NULL|text:\"none\"",
            "text:\"\"|text:\"empty\"",
            "text:\"a\"|text:\"a\""
        ]
    );
    assert_eq!(
        rows(&t3, "tuples"),
        vec![
            "int:1|text:\"one\"|int:10|int:1",
            "int:2|text:\"\"|int:20|int:2"
        ]
    );
    assert_eq!(rows(&t3, "set"), vec!["text:\"member\"|int:0"]);
    assert_eq!(
        rows(&t3, "members"),
        vec![
            "blob:[00, 00, 00, 01]|blob:[7b, 22, 76, 6f, 74, 65, 72, 22, 3a, 74, 72, 75, 65, 7d]",
            "blob:[00, 00, 00, 02]|blob:[00, 62, 69, 6e, 61, 72, 79, ff]"
        ]
    );
    assert_eq!(
        rows(&t3, "watchers"),
        vec!["int:1|text:\"a\"", "int:1|text:\"b\"", "int:2|text:\"c\""]
    );
    assert_eq!(rows(&t3, "nonzero"), vec!["int:1|int:5", "int:2|NULL"]);

    // Hostile names: quoted, reserved ones and case collisions renamed.
    let names = tables(&t3);
    for want in [
        "select",
        "a\"quote",
        "with space",
        "redb_sqlite_stat",
        "_cutover_source",
        "_cutover_source_2",
    ] {
        assert!(names.contains(&want.to_string()), "{want} in {names:?}");
    }
    let lower: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
    assert!(
        lower.contains(&"users".into()) && lower.contains(&"users_2".into()),
        "{names:?}"
    );

    // Both formats give the same rows in every table they share.
    for t in tables(&t2) {
        if t == "_cutover_source" {
            continue;
        }
        assert_eq!(rows(&t2, &t), rows(&t3, &t), "table {t}");
    }
    // The metadata records formats, types, counts and checksums.
    let conn = rusqlite::Connection::open(&t2).unwrap();
    let (format, key, value, entries, checksum): (i64, String, String, i64, String) = conn
        .query_row(
            "SELECT source_format, key_type, value_type, entries, checksum FROM _cutover_source WHERE redb_table = 'tuple_mix'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(
        (format, key.as_str(), value.as_str(), entries),
        (2, "(Option<u8>,&[u8])", "(&str,u16,&[u8])", 2)
    );
    assert_eq!(checksum.len(), 32);

    // An independent verification of each target passes, in every mode.
    for mode in ["count", "sample=3", "full"] {
        let out = sb.verify(&v2, &t2, &["--verify", mode, "--seed", "9"]);
        assert_eq!(out.status.code(), Some(0), "{mode}: {}", show(&out));
    }
}

#[test]
fn cluster_migrates_rolling_then_in_parallel_and_verifies() {
    let sb = Sandbox::new();
    let cluster = sb.root.join("data");
    cutover::demo_redb::build(&cluster).expect("cluster");
    let out_dir = sb.root.join("sqlite");
    let out = sb.run(
        &cluster,
        &out_dir,
        &["--verify", "sample=5", "--seed", "42"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let ev = events(&out);
    assert_eq!(ev[0]["event"], "job_started");
    assert_eq!(ev[0]["verify"], "sample=5 seed=42");
    assert_eq!(ev[0]["items_total"], 3);
    // Rolling: one node at a time, in order.
    let order: Vec<&str> = ev
        .iter()
        .filter(|e| e["event"] == "item_started" || e["event"] == "item_verified")
        .map(|e| e["item"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        vec![
            "node-1/state-machine.redb",
            "node-1/state-machine.redb",
            "node-2/state-machine.redb",
            "node-2/state-machine.redb",
            "node-3/state-machine.redb",
            "node-3/state-machine.redb"
        ]
    );
    let sampled: Vec<u64> = ev
        .iter()
        .filter(|e| e["event"] == "table" && e["table"] == "log")
        .map(|e| e["verified"].as_u64().unwrap())
        .collect();
    assert_eq!(sampled, vec![5, 5, 5]);
    for node in 1..=3 {
        let db = out_dir.join(format!("node-{node}/state-machine.sqlite"));
        assert_eq!(
            tables(&db),
            vec!["_cutover_source", "kv", "log", "metadata", "watchers"]
        );
        assert_eq!(rows(&db, "kv").len(), 240);
    }
    // Node 3 was written by redb 2.
    let conn = rusqlite::Connection::open(out_dir.join("node-3/state-machine.sqlite")).unwrap();
    let f: i64 = conn
        .query_row(
            "SELECT DISTINCT source_format FROM _cutover_source",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(f, 2);

    // All together, one node only, and a second run into the same target refused.
    let out2 = sb.root.join("sqlite2");
    let out = sb.run(&cluster, &out2, &["--parallel", "3", "--verify", "full"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(summary(&out)["items_verified"], 3);
    let out3 = sb.root.join("sqlite3");
    let out = sb.run(&cluster, &out3, &["--node", "node-2"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(listing(&out3), vec!["node-2"]);
    let out = sb.run(&cluster, &out_dir, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));

    // The journal knows the jobs.
    let jobs = Command::new(bin())
        .arg("--state-dir")
        .arg(&sb.state)
        .args(["jobs", "--json"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&jobs.stdout).contains("redb-to-sqlite"));
}

#[test]
fn verification_names_each_damaged_row() {
    let sb = Sandbox::new();
    let src = sb.root.join("state.redb");
    all_types_v3(&src);
    let dst = sb.root.join("state.sqlite");
    let out = sb.run(&src, &dst, &["--verify", "count"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    {
        let conn = rusqlite::Connection::open(&dst).unwrap();
        conn.execute(
            "UPDATE strings SET value = 'CHANGED' WHERE key = 'select'",
            [],
        )
        .unwrap();
        conn.execute("DELETE FROM tuples WHERE key_0 = 2", [])
            .unwrap();
        conn.execute("INSERT INTO watchers VALUES (9, 'extra')", [])
            .unwrap();
        conn.execute("UPDATE options SET value = NULL WHERE key = 1", [])
            .unwrap();
    }
    let out = sb.verify(&src, &dst, &["--verify", "full"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let reason = failures(&out);
    assert!(
        reason.contains("strings key \\\"select\\\"") || reason.contains("strings key \"select\""),
        "{reason}"
    );
    assert!(reason.contains("CHANGED"), "{reason}");
    assert!(
        reason.contains("+ tuples key (2, \"\") missing in target"),
        "{reason}"
    );
    assert!(
        reason.contains("- watchers: 1 rows only in target"),
        "{reason}"
    );
    assert!(reason.contains("options key 1"), "{reason}");
    assert!(
        reason.contains("count: 2 entries in source, 1 rows in target"),
        "{reason}"
    );
    // A sample that misses the damage still fails on the checksum.
    let out = sb.verify(&src, &dst, &["--verify", "sample=0"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(failures(&out).contains("checksum"), "{}", show(&out));
    // Text mode: the per-table summary and the differences on stdout.
    let text = sb.cutover(
        &["verify", "redb-to-sqlite", "--verify", "full"],
        &[("--source", &src), ("--target", &dst)],
    );
    assert_eq!(text.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("table") && stdout.contains("verified") && stdout.contains("CHANGED"),
        "{stdout}"
    );

    // The journal keeps the failure with its per-table rows: `cutover
    // report` prints them as the run did, after the process exited.
    let full = sb.verify(&src, &dst, &["--verify", "full"]);
    // Rows and failures; the item's wall time is the run's own.
    let results = |lines: Vec<Value>| -> Vec<Value> {
        lines
            .into_iter()
            .filter(|e| e["event"] == "table" || e["event"] == "item_failed")
            .map(|mut e| {
                if let Some(r) = e.get_mut("report").and_then(Value::as_object_mut) {
                    r.remove("elapsed_s");
                }
                e
            })
            .collect()
    };
    let run = results(events(&full));
    let report = sb.cutover(&["report", "5", "--json"], &[]);
    assert_eq!(report.status.code(), Some(0), "{}", show(&report));
    let lines = events(&report);
    assert_eq!(lines[0]["mode"], "verify");
    assert_eq!(lines.last().unwrap()["event"], "summary");
    let kept = results(lines);
    assert!(run.iter().any(|e| e["event"] == "table"), "{}", show(&full));
    assert_eq!(kept, run, "rows, then the failure, as the run printed them");
    let text = sb.cutover(&["report", "5"], &[]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("CHANGED") && text.contains("FAILED"),
        "{text}"
    );
}

fn assert_refused(sb: &Sandbox, src: &Path, dst: &Path, extra: &[&str], expect: &str) {
    let out = sb.run(src, dst, extra);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{expect}: {}", show(&out));
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(expect), "expected '{expect}' in: {err}");
    assert!(out.stdout.is_empty(), "{}", show(&out));
}

#[test]
fn bad_input_is_one_line_and_leaves_nothing() {
    let sb = Sandbox::new();
    let good = sb.root.join("good.redb");
    kv_file(&good, 2000, 64);
    let bytes = std::fs::read(&good).unwrap();
    let out_dir = sb.root.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let dst = out_dir.join("x.sqlite");

    let truncated = sb.root.join("truncated.redb");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    assert_refused(&sb, &truncated, &dst, &[], "truncated.redb");

    let mut noise = bytes[..9].to_vec();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.push(x as u8);
    }
    let random = sb.root.join("random.redb");
    std::fs::write(&random, &noise).unwrap();
    assert_refused(&sb, &random, &dst, &[], "random.redb");

    // Damaged pages inside a valid file: redb's own failure is caught and
    // named, the job fails, and nothing is left behind.
    let cluster = sb.root.join("cluster");
    cutover::demo_redb::build(&cluster).expect("cluster");
    let damaged = sb.root.join("damaged.redb");
    let mut pages = std::fs::read(cluster.join("node-1/state-machine.redb")).unwrap();
    for (i, b) in pages[4096..7096].iter_mut().enumerate() {
        *b = (i * 37 + 11) as u8;
    }
    std::fs::write(&damaged, &pages).unwrap();
    let out = sb.run(&damaged, &dst, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let reason = failures(&out);
    assert!(
        reason.contains("damaged.redb table 'kv' is damaged"),
        "{reason}"
    );
    assert!(reason.contains("no target was written"), "{reason}");

    let not_redb = sb.root.join("notes.redb");
    std::fs::write(&not_redb, &noise[9..]).unwrap();
    assert_refused(&sb, &not_redb, &dst, &[], "not a redb database");

    let zero = sb.root.join("zero.redb");
    std::fs::write(&zero, b"").unwrap();
    assert_refused(&sb, &zero, &dst, &[], "empty");

    let empty_db = sb.root.join("empty.redb");
    redb::Database::create(&empty_db).unwrap();
    assert_refused(&sb, &empty_db, &dst, &[], "no tables");

    let unreadable = sb.root.join("vec.redb");
    {
        let db = redb::Database::create(&unreadable).unwrap();
        let w = db.begin_write().unwrap();
        {
            let mut t = w
                .open_table(redb::TableDefinition::<u8, Vec<u64>>::new("events"))
                .unwrap();
            t.insert(1u8, vec![1u64, 2]).unwrap();
        }
        w.commit().unwrap();
    }
    assert_refused(
        &sb,
        &unreadable,
        &dst,
        &[],
        "table 'events' (key u8, value Vec<u64>) cannot be read",
    );

    assert_refused(
        &sb,
        &sb.root.join("missing.redb"),
        &dst,
        &[],
        "cannot be read",
    );
    assert_refused(
        &sb,
        &good,
        &sb.root.join("no/such/dir/x.sqlite"),
        &[],
        "does not exist",
    );
    assert_refused(&sb, &good, &out_dir, &[], "is a directory");
    assert_refused(&sb, &good, &dst, &["--verify", "most"], "--verify");

    assert!(
        listing(&out_dir).is_empty(),
        "nothing left behind: {:?}",
        listing(&out_dir)
    );

    std::fs::write(&dst, b"precious").unwrap();
    assert_refused(&sb, &good, &dst, &[], "already exists");
    assert_eq!(std::fs::read(&dst).unwrap(), b"precious");
    assert!(!sb.state.join("journal.redb").exists() || listing(&out_dir) == vec!["x.sqlite"]);
}

#[test]
fn a_source_open_in_its_node_is_refused_clearly() {
    let sb = Sandbox::new();
    let (v3, v2) = (sb.root.join("v3.redb"), sb.root.join("v2.redb"));
    all_types_v3(&v3);
    all_types_v2(&v2);
    let dst = sb.root.join("out.sqlite");
    {
        let _owner = redb::Database::open(&v3).expect("owner holds it");
        assert_refused(&sb, &v3, &dst, &[], "in use by another process");
    }
    {
        let _owner = redb2::Database::open(&v2).expect("owner holds it");
        assert_refused(&sb, &v2, &dst, &[], "in use by another process");
    }
    assert!(!dst.exists());
    // Once the node is stopped, it migrates.
    let out = sb.run(&v2, &dst, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[test]
fn dry_run_prints_the_sql_and_writes_nothing() {
    let sb = Sandbox::new();
    let src = sb.root.join("s.redb");
    all_types_v2(&src);
    let dst = sb.root.join("s.sqlite");
    let out = sb.run(&src, &dst, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let steps: Vec<String> = events(&out)
        .iter()
        .filter(|e| e["event"] == "plan_step")
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    let all = steps.join("\n");
    assert!(all.contains("read-only (redb format v2"), "{all}");
    assert!(all.contains("CREATE TABLE \"a\"\"quote\""), "{all}");
    assert!(
        all.contains("\"key_0\" INTEGER NOT NULL, \"key_1\" TEXT NOT NULL"),
        "{all}"
    );
    assert!(all.contains("rename"), "{all}");
    assert!(!dst.exists());
    assert_eq!(listing(&sb.root), vec!["s.redb", "state"]);
}

#[test]
fn inspect_shows_formats_tables_types_and_counts() {
    let sb = Sandbox::new();
    let cluster = sb.root.join("data");
    cutover::demo_redb::build(&cluster).expect("cluster");
    let text = Command::new(bin())
        .args(["inspect", "redb"])
        .arg(&cluster)
        .output()
        .unwrap();
    assert_eq!(text.status.code(), Some(0), "{}", show(&text));
    let stdout = String::from_utf8_lossy(&text.stdout);
    for want in [
        "node node-1",
        "node node-3",
        "format v2 (redb 2.x)",
        "format v3 (redb 3.x/4.x)",
        "metadata",
        "cutover_demo::StoredMembership",
        "multimap",
        "u64 → &[u8]",
    ] {
        assert!(stdout.contains(want), "{want} in:\n{stdout}");
    }
    let json = Command::new(bin())
        .args(["inspect", "redb", "--json"])
        .arg(cluster.join("node-3/state-machine.redb"))
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&json.stdout).expect("one JSON object");
    assert_eq!(v["format"], 2);
    assert_eq!(v["tables"].as_array().unwrap().len(), 4);
    assert_eq!(v["tables"][1]["name"], "log");
    assert_eq!(v["tables"][1]["key_type"], "u64");
    assert!(v["tables"][1]["entries"].as_u64().unwrap() > 500);
    // A file that cannot be migrated says why, and exits 1.
    let bad = sb.root.join("bad.redb");
    std::fs::write(&bad, b"nope").unwrap();
    let out = Command::new(bin())
        .args(["inspect", "redb"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not a redb database"));
}

use support::tmpfs::Tmpfs;

#[test]
fn a_full_disk_leaves_no_target() {
    if !support::require("a_full_disk_leaves_no_target", support::skip::root()) {
        return;
    }
    let sb = Sandbox::new();
    let src = sb.root.join("big.redb");
    kv_file(&src, 30_000, 200);
    let Some(fs) = Tmpfs::new("1m") else {
        assert!(!support::skip::strict(), "cannot mount a tmpfs");
        return;
    };
    let dst = fs.path().join("out.sqlite");
    let out = sb.run(&src, &dst, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let reason = failures(&out);
    assert!(reason.contains("no space left"), "{reason}");
    assert!(reason.contains("out.sqlite"), "{reason}");
    assert!(listing(fs.path()).is_empty(), "{:?}", listing(fs.path()));
}

#[test]
fn a_kill_during_the_write_leaves_no_target_and_resume_finishes() {
    let sb = Sandbox::new();
    let src = sb.root.join("big.redb");
    kv_file(&src, 400_000, 100);
    let dst = sb.root.join("out/big.sqlite");
    std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
    let mut child = Command::new(bin())
        .arg("--state-dir")
        .arg(&sb.state)
        .args(["run", "redb-to-sqlite", "--json", "--source"])
        .arg(&src)
        .arg("--target")
        .arg(&dst)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until SQLite writes the temporary file, then kill.
    let tmp = dst.with_file_name(".big.sqlite.cutover-tmp");
    let started = Instant::now();
    while !tmp.exists() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    let writing = tmp.exists() && !dst.exists();
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(writing, "killed while the temporary file was being written");
    assert!(!status.success());
    assert!(!dst.exists(), "a killed write leaves no target");

    let job = Command::new(bin())
        .arg("--state-dir")
        .arg(&sb.state)
        .args(["jobs", "--json"])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&job.stdout)
        .lines()
        .next()
        .map(str::to_string)
        .unwrap();
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["kind"], "redb-to-sqlite");
    let id = v["job"].as_u64().unwrap().to_string();
    let out = sb.cutover(&["resume", &id, "--json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(summary(&out)["items_verified"], 1);
    assert!(dst.exists());
    assert_eq!(
        listing(dst.parent().unwrap()),
        vec!["big.sqlite"],
        "temporary file cleaned"
    );
    assert_eq!(rows(&dst, "kv").len(), 400_000);
}

/// A cluster of `nodes` node folders, each with one kv file of `n` entries.
fn kv_cluster(dir: &Path, nodes: usize, n: u64) {
    for node in 1..=nodes {
        let p = dir.join(format!("node-{node}/state.redb"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        kv_file(&p, n, 64);
    }
}

#[test]
fn a_target_that_is_or_lies_inside_the_source_is_refused() {
    let sb = Sandbox::new();
    let cluster = sb.root.join("data");
    kv_cluster(&cluster, 2, 10);
    std::fs::create_dir_all(cluster.join("inner")).unwrap();
    let before = listing(&cluster);
    for dst in [
        cluster.clone(),
        cluster.join("inner/target"),
        cluster.join("node-1"),
    ] {
        assert_refused(&sb, &cluster, &dst, &[], "the source");
        assert_eq!(listing(&cluster), before, "nothing written into the source");
        assert_eq!(listing(&cluster.join("node-1")), vec!["state.redb"]);
    }
    let file = cluster.join("node-1/state.redb");
    for dst in [file.clone(), file.join("inner/target")] {
        assert_refused(&sb, &file, &dst, &[], "the source");
    }
    // Through another spelling of the same directory.
    let link = sb.root.join("data-link");
    std::os::unix::fs::symlink(&cluster, &link).unwrap();
    assert_refused(
        &sb,
        &link,
        &cluster.join("inner/t"),
        &[],
        "is inside the source",
    );
    assert!(!cluster.join("inner/target").exists() && !cluster.join("inner/t").exists());
}

#[test]
fn verify_reports_a_missing_node_target_and_checks_the_others() {
    let sb = Sandbox::new();
    let cluster = sb.root.join("data");
    kv_cluster(&cluster, 3, 50);
    let out_dir = sb.root.join("sqlite");
    let out = sb.run(&cluster, &out_dir, &["--parallel", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    std::fs::remove_file(out_dir.join("node-2/state.sqlite")).unwrap();
    let out = sb.verify(&cluster, &out_dir, &["--verify", "full"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let s = summary(&out);
    assert_eq!(
        (s["items_verified"].as_u64(), s["items_failed"].as_u64()),
        (Some(2), Some(1)),
        "{s}"
    );
    let reason = failures(&out);
    assert!(reason.contains("node-2/state.redb"), "{reason}");
    assert!(
        reason.contains("node-2/state.sqlite missing in target"),
        "{reason}"
    );
    // A whole target directory missing is bad input.
    let out = sb.verify(&cluster, &sb.root.join("nowhere"), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

#[test]
fn a_second_writer_on_one_target_is_refused_naming_the_first() {
    let sb = Sandbox::new();
    let cluster = sb.root.join("data");
    kv_cluster(&cluster, 3, 150_000);
    let out_dir = sb.root.join("sqlite");
    let mut first = Command::new(bin())
        .arg("--state-dir")
        .arg(&sb.state)
        .args([
            "run",
            "redb-to-sqlite",
            "--json",
            "--verify",
            "full",
            "--source",
        ])
        .arg(&cluster)
        .arg("--target")
        .arg(&out_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(first.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        let n = std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
        assert!(n > 0, "first job ended early");
        if line.contains("\"item_started\"") {
            break;
        }
    }
    let other_state = sb.root.join("other state");
    let second = Command::new(bin())
        .arg("--state-dir")
        .arg(&other_state)
        .args([
            "run",
            "redb-to-sqlite",
            "--json",
            "--parallel",
            "3",
            "--source",
        ])
        .arg(&cluster)
        .arg("--target")
        .arg(&out_dir)
        .output()
        .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
    let status = first.wait().unwrap();
    assert_eq!(second.status.code(), Some(2), "{}", show(&second));
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains(&format!("process {}", first.id())), "{err}");
    assert!(err.contains(&sb.state.display().to_string()), "{err}");
    assert!(second.stdout.is_empty(), "{}", show(&second));
    assert_eq!(status.code(), Some(0), "first job: {rest}");
    assert!(rest.contains("\"items_verified\":3"), "{rest}");
    for node in 1..=3 {
        let db = out_dir.join(format!("node-{node}/state.sqlite"));
        assert_eq!(rows(&db, "kv").len(), 150_000);
    }
    assert_eq!(listing(&out_dir.join("node-1")), vec!["state.sqlite"]);
    // Verification shares the lock; once the writer is gone it runs.
    let out = sb.verify(&cluster, &out_dir, &["--verify", "count"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[test]
fn the_target_is_flushed_before_a_node_is_reported_verified() {
    if !support::require("strace missing", support::strace::usable()) {
        return;
    }
    let sb = Sandbox::new();
    let cluster = sb.root.join("data");
    kv_cluster(&cluster, 2, 100);
    let out_dir = sb.root.join("sqlite");
    let log = sb.root.join("strace.log");
    let args: Vec<&std::ffi::OsStr> = vec![
        "--state-dir".as_ref(),
        sb.state.as_os_str(),
        "run".as_ref(),
        "redb-to-sqlite".as_ref(),
        "--json".as_ref(),
        "--source".as_ref(),
        cluster.as_os_str(),
        "--target".as_ref(),
        out_dir.as_os_str(),
    ];
    let out = support::strace::traced(bin(), &args, &log);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let log = std::fs::read_to_string(&log).unwrap();
    let root = out_dir.canonicalize().unwrap().display().to_string();
    let verified = support::strace::first_verified(&log).expect("an item_verified write");
    let node1 = format!("{root}/node-1");
    for (what, path) in [
        (
            "the new file",
            format!("<{node1}/.state.sqlite.cutover-tmp>"),
        ),
        ("the node's folder", format!("<{node1}>")),
        ("the target directory", format!("<{root}>")),
    ] {
        let flushed = support::strace::first_flush(&log, |c| c.contains(&path));
        assert!(
            flushed.is_some_and(|f| f < verified),
            "{what} ({path}) flushed at line {flushed:?}, first item_verified at {verified}\n{log}"
        );
    }
}
