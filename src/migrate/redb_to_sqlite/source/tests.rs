use super::*;
use crate::migrate::redb_to_sqlite::types::{Leaf, Ty};

#[derive(Debug)]
struct Member;

impl redb::Value for Member {
    type SelfType<'a> = Vec<u8>;
    type AsBytes<'a> = Vec<u8>;
    fn fixed_width() -> Option<usize> {
        Some(6)
    }
    fn from_bytes<'a>(data: &'a [u8]) -> Vec<u8>
    where
        Self: 'a,
    {
        data.to_vec()
    }
    fn as_bytes<'a, 'b: 'a>(value: &'a Vec<u8>) -> Vec<u8>
    where
        Self: 'b,
    {
        value.clone()
    }
    fn type_name() -> redb::TypeName {
        redb::TypeName::new("test::Member")
    }
}

fn all_entries(src: &Source, name: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let t = src.tables.iter().find(|t| t.name == name).expect("table");
    let mut out = Vec::new();
    src.scan::<()>(t, |k, v| {
        out.push((k.to_vec(), v.to_vec()));
        Ok(())
    })
    .expect("scan")
    .expect("callback");
    out
}

#[test]
fn reads_v3_tables_of_any_type() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("a.redb");
    {
        let db = redb::Database::create(&path).expect("create");
        let w = db.begin_write().expect("w");
        {
            let mut t = w
                .open_table(redb::TableDefinition::<u64, &str>::new("log"))
                .expect("t");
            t.insert(1, "one").expect("i");
            t.insert(2, "two").expect("i");
            let mut m = w
                .open_table(redb::TableDefinition::<&str, Member>::new("meta"))
                .expect("t");
            m.insert("m", vec![1, 2, 3, 4, 5, 6]).expect("i");
            let mut mm = w
                .open_multimap_table(redb::MultimapTableDefinition::<&str, u32>::new("tags"))
                .expect("t");
            mm.insert("a", 1).expect("i");
            mm.insert("a", 2).expect("i");
            let mut tu = w
                .open_table(redb::TableDefinition::<(u32, &str), Option<u64>>::new(
                    "tuples",
                ))
                .expect("t");
            tu.insert((7, "x"), Some(9)).expect("i");
            tu.insert((8, "y"), None).expect("i");
        }
        w.commit().expect("commit");
    }
    let src = Source::open(&path).expect("open");
    assert_eq!(src.format, Format::V3);
    let names: Vec<_> = src
        .tables
        .iter()
        .map(|t| (t.name.as_str(), t.multimap, t.entries))
        .collect();
    assert_eq!(
        names,
        vec![
            ("log", false, 2),
            ("meta", false, 1),
            ("tags", true, 2),
            ("tuples", false, 2)
        ]
    );
    let log = &src.tables[0];
    assert_eq!(
        (log.key_type.as_str(), log.value_type.as_str()),
        ("u64", "&str")
    );
    assert!(matches!(
        log.key,
        Ok(Mapping::Natural(Ty::Leaf(Leaf::Int { .. })))
    ));
    assert_eq!(src.tables[1].value, Ok(Mapping::Opaque));
    assert_eq!(src.tables[1].value_type, "test::Member");
    assert_eq!(src.tables[3].key_type, "(u32,&str)");
    assert_eq!(
        all_entries(&src, "log"),
        vec![
            (1u64.to_le_bytes().to_vec(), b"one".to_vec()),
            (2u64.to_le_bytes().to_vec(), b"two".to_vec())
        ]
    );
    assert_eq!(all_entries(&src, "meta")[0].1, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(all_entries(&src, "tags").len(), 2);
    assert_eq!(
        src.last_key(log).expect("last"),
        Some(2u64.to_le_bytes().to_vec())
    );
    // The source is unchanged by reading it.
    drop(src);
}

#[test]
fn reads_v2_files_without_writing() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("b.redb");
    {
        let db = redb2::Database::create(&path).expect("create");
        let w = db.begin_write().expect("w");
        {
            let mut t = w
                .open_table(redb2::TableDefinition::<(u32, &str), &[u8]>::new("kv"))
                .expect("t");
            t.insert((1, "a"), &b"x"[..]).expect("i");
        }
        w.commit().expect("commit");
    }
    let before = std::fs::read(&path).expect("read");
    let src = Source::open(&path).expect("open v2");
    assert_eq!(src.format, Format::V2);
    let kv = &src.tables[0];
    assert_eq!(kv.key_type, "(u32,&str)");
    match &kv.key {
        Ok(Mapping::Natural(Ty::Tuple(_, layout))) => {
            assert_eq!(
                *layout,
                crate::migrate::redb_to_sqlite::types::TupleLayout::LegacyU32
            )
        }
        other => panic!("{other:?}"),
    }
    let entries = all_entries(&src, "kv");
    assert_eq!(entries[0].0, b"\x04\x00\x00\x00\x01\x00\x00\x00a");
    drop(src);
    assert_eq!(
        std::fs::read(&path).expect("read"),
        before,
        "source unchanged"
    );
}

#[test]
fn refuses_what_is_not_redb() {
    let dir = tempfile::tempdir().expect("tmp");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").expect("w");
    assert!(Source::open(&empty).unwrap_err().contains("empty"));
    let text = dir.path().join("text");
    std::fs::write(&text, b"hello, not a database").expect("w");
    assert!(Source::open(&text)
        .unwrap_err()
        .contains("not a redb database"));
    let mut head = MAGIC.to_vec();
    head.extend_from_slice(&[0; 100]);
    let short = dir.path().join("short");
    std::fs::write(&short, &head).expect("w");
    assert!(Source::open(&short).unwrap_err().contains("truncated"));
}

#[test]
fn last_key_is_the_greatest() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("c.redb");
    {
        let db = redb::Database::create(&path).expect("create");
        let w = db.begin_write().expect("w");
        {
            let mut t = w
                .open_table(redb::TableDefinition::<u64, i64>::new("u64s"))
                .expect("t");
            t.insert(0, 1).expect("i");
            t.insert(u64::MAX, 2).expect("i");
            t.insert(5, 3).expect("i");
        }
        w.commit().expect("commit");
    }
    let src = Source::open(&path).expect("open");
    let t = &src.tables[0];
    assert_eq!(
        src.last_key(t).expect("last"),
        Some(u64::MAX.to_le_bytes().to_vec())
    );
}

#[test]
fn classifications_read_from_both_redb_versions() {
    let (name, class) = v3::describe(&<(u32, &str) as redb::Value>::type_name());
    assert_eq!(
        (name.as_str(), class),
        ("(u32,&str)", Some(Class::Internal3))
    );
    let (_, class) = v3::describe(&<u64 as redb::Value>::type_name());
    assert_eq!(class, Some(Class::Internal));
    let (name, class) = v3::describe(&redb::TypeName::new("app::T"));
    assert_eq!((name.as_str(), class), ("app::T", Some(Class::UserDefined)));
    let (name, class) = v2::describe(&<(u32, &str) as redb2::Value>::type_name());
    assert_eq!(
        (name.as_str(), class),
        ("(u32,&str)", Some(Class::Internal))
    );
    let (name, class) = v2::describe(&redb2::TypeName::new("app::\"odd\" name"));
    assert_eq!(
        (name.as_str(), class),
        ("app::\"odd\" name", Some(Class::UserDefined))
    );
}

#[test]
fn a_file_not_closed_cleanly_is_refused_not_repaired() {
    let dir = tempfile::tempdir().expect("tmp");
    let (live3, copy3) = (dir.path().join("live3.redb"), dir.path().join("copy3.redb"));
    let (live2, copy2) = (dir.path().join("live2.redb"), dir.path().join("copy2.redb"));
    let db3 = redb::Database::create(&live3).expect("create");
    let w = db3.begin_write().expect("w");
    w.open_table(redb::TableDefinition::<u8, u8>::new("t"))
        .expect("t")
        .insert(1, 1)
        .expect("i");
    w.commit().expect("c");
    // A copy taken while the owner runs looks like a crashed file.
    std::fs::copy(&live3, &copy3).expect("copy");
    let db2 = redb2::Database::create(&live2).expect("create");
    let w = db2.begin_write().expect("w");
    w.open_table(redb2::TableDefinition::<u8, u8>::new("t"))
        .expect("t")
        .insert(1, 1)
        .expect("i");
    w.commit().expect("c");
    std::fs::copy(&live2, &copy2).expect("copy");
    let before = (
        std::fs::read(&copy3).expect("r"),
        std::fs::read(&copy2).expect("r"),
    );
    for p in [&copy3, &copy2] {
        let err = Source::open(p).expect_err("refused");
        assert!(err.contains("needs a repair"), "{}: {err}", p.display());
    }
    assert_eq!(std::fs::read(&copy3).expect("r"), before.0);
    assert_eq!(std::fs::read(&copy2).expect("r"), before.1);
}
