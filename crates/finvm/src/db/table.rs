//! Reading, validating and writing one table of the store in
//! `state["__finvm.db"]` (`DATABASE.md` §1.2).
//!
//! Reads never copy: [`read_table`] borrows the state. Writes take the store
//! out of the state map, so that every level (store record, table record,
//! rows record) is uniquely owned when it is changed and `Rc::make_mut` works
//! in place; a level is copied only when something else (a register, another
//! snapshot) still shares it, which is ordinary copy-on-write.

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
}

fn malformed(what: &str) -> Box<crate::error::VmError> {
    vm_error(ErrorCode::TypeMismatch, format!("Malformed db {what}"))
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
    if let Some(v) = t.get("nextId") {
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
    if let Some(v) = t.get("rows") {
        let Value::Record(r) = v else {
            return Err(malformed("table: rows must be Record"));
        };
        view.rows = Some(r);
    }
    if let Some(v) = t.get("indexes") {
        let Value::Record(r) = v else {
            return Err(malformed("table: indexes must be Record"));
        };
        view.indexes = Some(r);
    }
    if let Some(v) = t.get("hashCache") {
        let Value::Str(s) = v else {
            return Err(malformed("table: hashCache must be String"));
        };
        view.hash_cache = Some(s);
    }
    if let Some(v) = t.get("dirtyHash") {
        let Value::Bool(b) = v else {
            return Err(malformed("table: dirtyHash must be Bool"));
        };
        view.dirty = *b;
    }
    Ok(view)
}

/// An owned table taken out of the store for writing.
pub(super) struct TableParts {
    /// The table record without its `rows` (other fields are rewritten by
    /// [`put_table`] only when they change).
    rec: Record,
    /// `nextId` (written as given; it is range-checked on the next read).
    pub next_id: i64,
    /// The rows record.
    pub rows: Rc<Record>,
    /// The index markers (`field -> true`).
    pub indexes: Rc<Record>,
    /// `dirtyHash`.
    pub dirty: bool,
    /// `hashCache` (written only when present).
    pub hash_cache: Option<Str>,
}

impl TableParts {
    /// The rows, uniquely owned (copied only if shared).
    pub fn rows_mut(&mut self) -> &mut Record {
        Rc::make_mut(&mut self.rows)
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

/// The store record taken out of `state` (a non-record store becomes empty).
///
/// The caller must hand it back with [`close_store`]; nothing in between may
/// fail, so every check happens before [`open_store`].
pub(super) fn open_store(state: &mut BTreeMap<Str, Value>) -> Record {
    match state.get_mut(DB_KEY).map(std::mem::take) {
        Some(Value::Record(rc)) => Rc::unwrap_or_clone(rc),
        _ => Record::new(),
    }
}

/// Puts the store back under `__finvm.db`.
pub(super) fn close_store(state: &mut BTreeMap<Str, Value>, store: Record) {
    let v = Value::record(store);
    match state.get_mut(DB_KEY) {
        Some(slot) => *slot = v,
        None => {
            state.insert(Str::new(DB_KEY), v);
        }
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
/// must have been validated by [`read_table`].
pub(super) fn take_table(store: &mut Record, name: &Str) -> TableParts {
    // Removing the entry makes the table record, and then the rows taken
    // out of it, unshared (unless something else holds them).
    let mut rec = match remove_field(store, name) {
        Some(Value::Record(t)) => Rc::unwrap_or_clone(t),
        _ => Record::new(),
    };
    let rows = match rec.remove("rows") {
        Some(Value::Record(r)) => r,
        _ => Rc::new(Record::new()),
    };
    let next_id = match rec.get("nextId") {
        Some(Value::Int(i)) => i.to_i64().unwrap_or(0),
        _ => 0,
    };
    let indexes = match rec.get("indexes") {
        Some(Value::Record(r)) => r.clone(),
        _ => Rc::new(Record::new()),
    };
    let dirty = !matches!(rec.get("dirtyHash"), Some(Value::Bool(false)));
    let hash_cache = match rec.get("hashCache") {
        Some(Value::Str(s)) => Some(s.clone()),
        _ => None,
    };
    TableParts {
        rec,
        next_id,
        rows,
        indexes,
        dirty,
        hash_cache,
    }
}

/// `writeDbTable`: stores exactly `nextId`, `rows`, `indexes`, `dirtyHash`
/// and, when held, `hashCache` (any other field is dropped).
pub(super) fn put_table(store: &mut Record, name: &Str, parts: TableParts) {
    let TableParts {
        mut rec,
        next_id,
        rows,
        indexes,
        dirty,
        hash_cache,
    } = parts;
    let extra = rec
        .fields()
        .keys()
        .any(|k| !matches!(k.as_str(), "nextId" | "indexes" | "dirtyHash" | "hashCache"));
    if extra {
        rec = Record::new();
    }
    NAMES.with(|n| {
        let next = Value::int(next_id);
        if rec.get("nextId") != Some(&next) {
            rec.insert(n.next_id.clone(), next);
        }
        if !matches!(rec.get("indexes"), Some(Value::Record(r)) if Rc::ptr_eq(r, &indexes)) {
            rec.insert(n.indexes.clone(), Value::Record(indexes));
        }
        if rec.get("dirtyHash") != Some(&Value::Bool(dirty)) {
            rec.insert(n.dirty.clone(), Value::Bool(dirty));
        }
        match hash_cache {
            Some(h) => {
                if !matches!(rec.get("hashCache"), Some(Value::Str(x)) if *x == h) {
                    rec.insert(n.hash.clone(), Value::Str(h));
                }
            }
            None => {
                rec.remove("hashCache");
            }
        }
        rec.insert(n.rows.clone(), Value::Record(rows));
    });
    store.insert(name.clone(), Value::record(rec));
}
