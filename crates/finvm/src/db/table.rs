//! Reading, validating and writing one table of the store in
//! `state["__finvm.db"]` (`DATABASE.md` §1.2).
//!
//! Reads never copy: [`read_table`] borrows the state. Writes change every
//! level (store record, table record, rows record) in place with
//! `Rc::make_mut`, taking the table out of the store and the rows out of the
//! table so that each is uniquely owned when it is changed; a level is copied
//! only when something else (a register, another snapshot) still shares it,
//! which is ordinary copy-on-write.

use crate::error::{vm_error, ErrorCode, VmResult};
use crate::value::{Record, Str, Value};
use std::collections::BTreeMap;
use std::rc::Rc;

/// The state key of the store.
pub(super) const DB_KEY: &str = "__finvm.db";

/// A validated, borrowed view of one table (defaults filled in).
pub(super) struct TableView<'a> {
    /// The table entry exists in the store.
    pub exists: bool,
    /// `nextId` (default 0).
    pub next_id: i32,
    /// `rows`, when the table has that field.
    pub rows: Option<&'a Rc<Record>>,
    /// `indexes`, when the table has that field.
    pub indexes: Option<&'a Rc<Record>>,
    /// `hashCache`, when present.
    pub hash_cache: Option<&'a Str>,
    /// `dirtyHash` (default true).
    pub dirty: bool,
    /// The table record has exactly the fields a write leaves
    /// ([`Facts::tidy`]).
    pub tidy: bool,
}

/// What a write needs to know about the table it changes, taken from its
/// [`TableView`] (so the write does not look the fields up again).
#[derive(Clone, Copy, Debug)]
pub(super) struct Facts {
    /// The table exists and its record holds `nextId`, `rows`, `indexes`,
    /// `dirtyHash` and possibly `hashCache`, and nothing else: a write then
    /// changes just the fields that change. Otherwise it rebuilds the record.
    pub tidy: bool,
    /// `nextId`.
    pub next_id: i32,
    /// `dirtyHash`.
    pub dirty: bool,
    /// `hashCache` is present.
    pub has_hash: bool,
    /// Identity of the rows record (for validating the derived-data cache).
    pub rows: Option<*const Record>,
}

impl TableView<'_> {
    /// Identity of the rows record (for validating the derived-data cache).
    pub fn rows_ptr(&self) -> Option<*const Record> {
        self.rows.map(Rc::as_ptr)
    }

    /// The stored row `id`.
    pub fn row(&self, id: &Str) -> Option<&Value> {
        self.rows.and_then(|r| r.fields().get(id))
    }

    /// What a write of this table needs to know.
    pub fn facts(&self) -> Facts {
        Facts {
            tidy: self.tidy,
            next_id: self.next_id,
            dirty: self.dirty,
            has_hash: self.hash_cache.is_some(),
            rows: self.rows_ptr(),
        }
    }
}

fn malformed(what: &str) -> Box<crate::error::VmError> {
    vm_error(ErrorCode::TypeMismatch, format!("Malformed db {what}"))
}

/// The fields of a table record that `readDbTable` looks at, in the order
/// it checks them: `nextId`, `rows`, `indexes`, `hashCache`, `dirtyHash`;
/// and whether the record has any other field.
fn table_fields(t: &Record) -> ([Option<&Value>; 5], bool) {
    const NAMES: [&str; 5] = ["nextId", "rows", "indexes", "hashCache", "dirtyHash"];
    let mut found = [None; 5];
    if t.len() > NAMES.len() {
        for (slot, name) in found.iter_mut().zip(NAMES) {
            *slot = t.get(name);
        }
        return (found, true);
    }
    // One pass over the (at most five) fields instead of five lookups.
    let mut extra = false;
    for (k, v) in t.fields() {
        let i = match k.as_str() {
            "nextId" => 0,
            "rows" => 1,
            "indexes" => 2,
            "hashCache" => 3,
            "dirtyHash" => 4,
            _ => {
                extra = true;
                continue;
            }
        };
        found[i] = Some(v);
    }
    (found, extra)
}

/// `readDbTable`: a missing or non-record store reads as empty; a missing
/// table as `{nextId 0, rows {}, indexes {}, dirtyHash true}`; the fields
/// of an existing table are checked in the reference's order.
pub(super) fn read_table<'a>(
    state: &'a BTreeMap<Str, Value>,
    table: &Str,
) -> VmResult<TableView<'a>> {
    let mut view = TableView {
        exists: false,
        next_id: 0,
        rows: None,
        indexes: None,
        hash_cache: None,
        dirty: true,
        tidy: false,
    };
    let Some(Value::Record(store)) = state.get(DB_KEY) else {
        return Ok(view);
    };
    let Some(entry) = store.fields().get(table) else {
        return Ok(view);
    };
    let Value::Record(t) = entry else {
        return Err(malformed("store: table must be Record"));
    };
    view.exists = true;
    let ([next_id, rows, indexes, hash_cache, dirty], extra) = table_fields(t);
    if let Some(v) = next_id {
        let Value::Int(i) = v else {
            return Err(malformed("table: nextId must be Int"));
        };
        view.next_id = i.to_i32().ok_or_else(|| {
            vm_error(
                ErrorCode::InvalidInstruction,
                "db table nextId out of Int range",
            )
        })?;
    }
    if let Some(v) = rows {
        let Value::Record(r) = v else {
            return Err(malformed("table: rows must be Record"));
        };
        view.rows = Some(r);
    }
    if let Some(v) = indexes {
        let Value::Record(r) = v else {
            return Err(malformed("table: indexes must be Record"));
        };
        view.indexes = Some(r);
    }
    if let Some(v) = hash_cache {
        let Value::Str(s) = v else {
            return Err(malformed("table: hashCache must be String"));
        };
        view.hash_cache = Some(s);
    }
    if let Some(v) = dirty {
        let Value::Bool(b) = v else {
            return Err(malformed("table: dirtyHash must be Bool"));
        };
        view.dirty = *b;
    }
    view.tidy =
        !extra && next_id.is_some() && rows.is_some() && indexes.is_some() && dirty.is_some();
    Ok(view)
}

/// An owned table taken out of the store for writing.
pub(super) struct TableParts {
    /// The table record (uniquely owned) without its `rows` (and without
    /// `indexes` once [`TableParts::indexes_mut`] took them).
    rec: Rc<Record>,
    /// The table as it was read.
    was: Facts,
    /// `nextId` (written as given; it is range-checked on the next read).
    pub next_id: i64,
    /// The rows record.
    pub rows: Rc<Record>,
    /// The index markers (`field -> true`), once taken out of `rec`.
    indexes: Option<Rc<Record>>,
    /// `dirtyHash`.
    pub dirty: bool,
    /// The new `hashCache` (`None`: unchanged; `Some(None)`: removed).
    hash_cache: Option<Option<Str>>,
}

impl TableParts {
    /// The rows, uniquely owned (copied only if shared).
    pub fn rows_mut(&mut self) -> &mut Record {
        Rc::make_mut(&mut self.rows)
    }

    /// The index markers, uniquely owned (copied only if shared).
    pub fn indexes_mut(&mut self) -> &mut Record {
        let rec = Rc::make_mut(&mut self.rec);
        let ix = self
            .indexes
            .get_or_insert_with(|| match rec.remove("indexes") {
                Some(Value::Record(r)) => r,
                _ => Rc::new(Record::new()),
            });
        Rc::make_mut(ix)
    }

    /// Sets (`Some`) or removes (`None`) `hashCache`.
    pub fn set_hash_cache(&mut self, h: Option<Str>) {
        self.hash_cache = Some(h);
    }
}

/// Removes field `key` from `rec`, whatever characters the key holds.
///
/// `Record::remove` looks keys up by `&str`, whose order (UTF-8 bytes) can
/// disagree with the records' own key order (UTF-16 code units) when keys mix
/// characters above U+FFFF with ones in U+E000..U+FFFF; such a lookup can
/// miss a present key. When that happens the record is rebuilt without it.
pub(super) fn remove_field(rec: &mut Record, key: &Str) -> Option<Value> {
    if let Some(v) = rec.remove(key.as_str()) {
        return Some(v);
    }
    let v = rec.fields().get(key)?.clone();
    *rec = rec
        .fields()
        .iter()
        .filter(|(k, _)| *k != key)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Some(v)
}

/// The store record in `state`, made a record (a non-record or missing
/// store becomes empty) and uniquely owned (copied only if shared), for
/// changing in place. Every check must happen before: what follows must
/// not fail.
pub(super) fn store_mut(state: &mut BTreeMap<Str, Value>) -> &mut Record {
    if !matches!(state.get(DB_KEY), Some(Value::Record(_))) {
        state.insert(Str::new(DB_KEY), Value::record(Record::new()));
    }
    match state.get_mut(DB_KEY) {
        Some(Value::Record(rc)) => Rc::make_mut(rc),
        _ => unreachable!("the store was just made a record"),
    }
}

/// The field names of a table record, allocated once per thread.
struct Names {
    next_id: Str,
    rows: Str,
    indexes: Str,
    dirty: Str,
    hash: Str,
}

thread_local! {
    static NAMES: Names = Names {
        next_id: Str::new("nextId"),
        rows: Str::new("rows"),
        indexes: Str::new("indexes"),
        dirty: Str::new("dirtyHash"),
        hash: Str::new("hashCache"),
    };
}

/// Takes table `name` out of the store (defaults when absent). The table
/// must have been read by [`read_table`], which gave `was`.
pub(super) fn take_table(store: &mut Record, name: &Str, was: Facts) -> TableParts {
    // Removing the entry makes the table record, and then the rows taken
    // out of it, unshared (unless something else holds them); they are then
    // changed in place, in their own allocations.
    let mut rec = match remove_field(store, name) {
        Some(Value::Record(t)) => t,
        _ => Rc::new(Record::new()),
    };
    let rows = match Rc::make_mut(&mut rec).remove("rows") {
        Some(Value::Record(r)) => r,
        _ => Rc::new(Record::new()),
    };
    TableParts {
        rec,
        was,
        next_id: i64::from(was.next_id),
        rows,
        indexes: None,
        dirty: was.dirty,
        hash_cache: None,
    }
}

/// `writeDbTable`: stores exactly `nextId`, `rows`, `indexes`, `dirtyHash`
/// and, when held, `hashCache` (any other field is dropped).
pub(super) fn put_table(store: &mut Record, name: &Str, parts: TableParts) {
    let TableParts {
        mut rec,
        was,
        next_id,
        rows,
        indexes,
        dirty,
        hash_cache,
    } = parts;
    let r = Rc::make_mut(&mut rec);
    NAMES.with(|n| {
        if was.tidy {
            // Change only what changed.
            if next_id != i64::from(was.next_id) {
                r.insert(n.next_id.clone(), Value::int(next_id));
            }
            if dirty != was.dirty {
                r.insert(n.dirty.clone(), Value::Bool(dirty));
            }
            match hash_cache {
                Some(None) if was.has_hash => {
                    r.remove("hashCache");
                }
                Some(Some(h)) if !matches!(r.get("hashCache"), Some(Value::Str(x)) if *x == h) => {
                    r.insert(n.hash.clone(), Value::Str(h));
                }
                _ => {}
            }
            if let Some(ix) = indexes {
                r.insert(n.indexes.clone(), Value::Record(ix));
            }
        } else {
            // Missing, extra or absent fields: write the record afresh.
            let indexes = indexes.unwrap_or_else(|| match r.get("indexes") {
                Some(Value::Record(x)) => x.clone(),
                _ => Rc::new(Record::new()),
            });
            let hash_cache = hash_cache.unwrap_or_else(|| match r.get("hashCache") {
                Some(Value::Str(x)) => Some(x.clone()),
                _ => None,
            });
            *r = Record::new();
            r.insert(n.next_id.clone(), Value::int(next_id));
            r.insert(n.indexes.clone(), Value::Record(indexes));
            r.insert(n.dirty.clone(), Value::Bool(dirty));
            if let Some(h) = hash_cache {
                r.insert(n.hash.clone(), Value::Str(h));
            }
        }
        r.insert(n.rows.clone(), Value::Record(rows));
    });
    store.insert(name.clone(), Value::Record(rec));
}
