//! Reading tables whose types are known only at run time, for one redb
//! version (`$krate` is `redb` or `redb2`; the two APIs agree).
//!
//! redb checks a table's stored key/value type names and fixed widths when it
//! is opened. `RawKey` and `RawValue` take their name and width from a
//! thread-local slot, and read every key and value as its exact bytes:
//! - a first open with an unmatchable name fails with `TableTypeMismatch`,
//!   which carries the stored names;
//! - opens with those names learn the stored widths from
//!   `TypeDefinitionChanged` (key first, then value);
//! - with names and widths set, the table opens and is scanned.
//!
//! The slot is per thread, and set only while one table is read, so tables
//! can be read on several threads at once.

macro_rules! raw_reader {
    ($krate:ident) => {
        use std::cell::{Cell, RefCell};
        use std::cmp::Ordering;

        use $krate::{
            Key, MultimapTableDefinition, ReadTransaction, ReadableMultimapTable, ReadableTable,
            ReadableTableMetadata, TableDefinition, TableError, TypeName, Value,
        };

        thread_local! {
            static KEY_NAME: RefCell<Option<TypeName>> = const { RefCell::new(None) };
            static KEY_WIDTH: Cell<Option<usize>> = const { Cell::new(None) };
            static VALUE_NAME: RefCell<Option<TypeName>> = const { RefCell::new(None) };
            static VALUE_WIDTH: Cell<Option<usize>> = const { Cell::new(None) };
        }

        /// A name no table is stored with: opening with it reports the real names.
        fn unmatchable() -> TypeName {
            TypeName::new("cutover::probe::unmatchable\u{0}")
        }

        /// A key read as its exact bytes; its type is set per thread.
        #[derive(Debug)]
        pub struct RawKey;

        /// A value read as its exact bytes; its type is set per thread.
        #[derive(Debug)]
        pub struct RawValue;

        impl Value for RawKey {
            type SelfType<'a>
                = &'a [u8]
            where
                Self: 'a;
            type AsBytes<'a>
                = &'a [u8]
            where
                Self: 'a;

            fn fixed_width() -> Option<usize> {
                KEY_WIDTH.with(Cell::get)
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

            fn type_name() -> TypeName {
                KEY_NAME.with(|n| n.borrow().clone().unwrap_or_else(unmatchable))
            }
        }

        impl Key for RawKey {
            fn compare(data1: &[u8], data2: &[u8]) -> Ordering {
                data1.cmp(data2)
            }
        }

        impl Value for RawValue {
            type SelfType<'a>
                = &'a [u8]
            where
                Self: 'a;
            type AsBytes<'a>
                = &'a [u8]
            where
                Self: 'a;

            fn fixed_width() -> Option<usize> {
                VALUE_WIDTH.with(Cell::get)
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

            fn type_name() -> TypeName {
                VALUE_NAME.with(|n| n.borrow().clone().unwrap_or_else(unmatchable))
            }
        }

        impl Key for RawValue {
            fn compare(data1: &[u8], data2: &[u8]) -> Ordering {
                data1.cmp(data2)
            }
        }

        /// The stored types of a table, as this redb version names them.
        #[derive(Debug, Clone)]
        pub struct Stored {
            pub key: TypeName,
            pub key_width: Option<usize>,
            pub value: TypeName,
            pub value_width: Option<usize>,
        }

        /// Sets the thread's slots; restores what was there on drop.
        struct Slots {
            prev: (
                Option<TypeName>,
                Option<usize>,
                Option<TypeName>,
                Option<usize>,
            ),
        }

        impl Slots {
            fn set(
                key: Option<TypeName>,
                key_width: Option<usize>,
                value: Option<TypeName>,
                value_width: Option<usize>,
            ) -> Slots {
                let prev = (
                    KEY_NAME.with(|n| n.replace(key)),
                    KEY_WIDTH.with(|w| w.replace(key_width)),
                    VALUE_NAME.with(|n| n.replace(value)),
                    VALUE_WIDTH.with(|w| w.replace(value_width)),
                );
                Slots { prev }
            }
        }

        impl Drop for Slots {
            fn drop(&mut self) {
                let (k, kw, v, vw) = self.prev.clone();
                KEY_NAME.with(|n| n.replace(k));
                KEY_WIDTH.with(|w| w.set(kw));
                VALUE_NAME.with(|n| n.replace(v));
                VALUE_WIDTH.with(|w| w.set(vw));
            }
        }

        /// Open `name` with the types in the slots; `Ok(len)` or the error.
        fn try_open(txn: &ReadTransaction, name: &str, multimap: bool) -> Result<u64, TableError> {
            let len = if multimap {
                let def: MultimapTableDefinition<RawKey, RawValue> =
                    MultimapTableDefinition::new(name);
                txn.open_multimap_table(def)?.len()
            } else {
                let def: TableDefinition<RawKey, RawValue> = TableDefinition::new(name);
                txn.open_table(def)?.len()
            };
            len.map_err(TableError::Storage)
        }

        /// The stored names and widths of a table, and its number of entries.
        pub fn stored_types(
            txn: &ReadTransaction,
            name: &str,
            multimap: bool,
        ) -> Result<(Stored, u64), String> {
            let (key, value) = {
                let _slots = Slots::set(None, None, None, None);
                match try_open(txn, name, multimap) {
                    Err(TableError::TableTypeMismatch { key, value, .. }) => (key, value),
                    Err(e) => return Err(e.to_string()),
                    Ok(_) => return Err("opened with an unmatchable type name".into()),
                }
            };
            let mut widths: (Option<usize>, Option<usize>) = (None, None);
            let mut first: Option<Option<usize>> = None;
            for _ in 0..4 {
                let _slots = Slots::set(Some(key.clone()), widths.0, Some(value.clone()), widths.1);
                match try_open(txn, name, multimap) {
                    Ok(len) => {
                        let stored = Stored {
                            key: key.clone(),
                            key_width: widths.0,
                            value: value.clone(),
                            value_width: widths.1,
                        };
                        return Ok((stored, len));
                    }
                    Err(TableError::TypeDefinitionChanged { width, .. }) => match first {
                        // The key is checked first: guess the width is the key's.
                        None => {
                            first = Some(width);
                            widths = (width, None);
                        }
                        // The key is now right, so this is the value's width.
                        Some(_) if width.is_some() => widths.1 = width,
                        // The key was not the one that differed.
                        Some(w) => widths = (None, w),
                    },
                    Err(e) => return Err(e.to_string()),
                }
            }
            Err("its stored widths could not be matched".into())
        }

        /// Call `f` with every (key, value) of a table, in the table's order.
        /// The outer error is the source's; the inner is what `f` stopped with.
        pub fn scan<E>(
            txn: &ReadTransaction,
            name: &str,
            multimap: bool,
            stored: &Stored,
            mut f: impl FnMut(&[u8], &[u8]) -> Result<(), E>,
        ) -> Result<Result<(), E>, String> {
            let _slots = Slots::set(
                Some(stored.key.clone()),
                stored.key_width,
                Some(stored.value.clone()),
                stored.value_width,
            );
            let err = |e: &dyn std::fmt::Display| e.to_string();
            if multimap {
                let def: MultimapTableDefinition<RawKey, RawValue> =
                    MultimapTableDefinition::new(name);
                let table = txn.open_multimap_table(def).map_err(|e| err(&e))?;
                for entry in table.iter().map_err(|e| err(&e))? {
                    let (k, values) = entry.map_err(|e| err(&e))?;
                    for v in values {
                        let v = v.map_err(|e| err(&e))?;
                        if let Err(stop) = f(k.value(), v.value()) {
                            return Ok(Err(stop));
                        }
                    }
                }
            } else {
                let def: TableDefinition<RawKey, RawValue> = TableDefinition::new(name);
                let table = txn.open_table(def).map_err(|e| err(&e))?;
                for entry in table.iter().map_err(|e| err(&e))? {
                    let (k, v) = entry.map_err(|e| err(&e))?;
                    if let Err(stop) = f(k.value(), v.value()) {
                        return Ok(Err(stop));
                    }
                }
            }
            Ok(Ok(()))
        }

        /// The last key of a table (the greatest in redb's order), if any.
        pub fn last_key(
            txn: &ReadTransaction,
            name: &str,
            multimap: bool,
            stored: &Stored,
        ) -> Result<Option<Vec<u8>>, String> {
            let _slots = Slots::set(
                Some(stored.key.clone()),
                stored.key_width,
                Some(stored.value.clone()),
                stored.value_width,
            );
            let err = |e: &dyn std::fmt::Display| e.to_string();
            if multimap {
                let def: MultimapTableDefinition<RawKey, RawValue> =
                    MultimapTableDefinition::new(name);
                let table = txn.open_multimap_table(def).map_err(|e| err(&e))?;
                let last = table.iter().map_err(|e| err(&e))?.next_back();
                match last {
                    Some(entry) => Ok(Some(entry.map_err(|e| err(&e))?.0.value().to_vec())),
                    None => Ok(None),
                }
            } else {
                let def: TableDefinition<RawKey, RawValue> = TableDefinition::new(name);
                let table = txn.open_table(def).map_err(|e| err(&e))?;
                let last = table.iter().map_err(|e| err(&e))?.next_back();
                match last {
                    Some(entry) => Ok(Some(entry.map_err(|e| err(&e))?.0.value().to_vec())),
                    None => Ok(None),
                }
            }
        }
    };
}

pub(crate) use raw_reader;
