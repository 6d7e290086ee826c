//! Reading, validating and writing one table of the store in
//! `state["__finvm.db"]` (`DATABASE.md` §1.2).
//!
//! Reads never copy: [`read_table`] borrows the state. Writes change every
//! level (store record, table record, rows record) in place, where it is
//! (`Record::update`, then `Rc::make_mut`); a level is copied only when
//! something else (a register, another snapshot) still shares it, which is
//! ordinary copy-on-write.

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
        self.rows.and_then(|r| r.get(id))
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
    let Some(entry) = store.get(table) else {
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

/// A table being written in place, inside its table record in the store:
/// the rows are changed where they are, the other fields are held as values
/// and written back afterwards when they changed.
pub(super) struct TableParts<'a> {
    /// `nextId` (written as given; it is range-checked on the next read).
    pub next_id: i64,
    /// The rows record.
    pub rows: &'a mut Rc<Record>,
    /// `dirtyHash`.
    pub dirty: bool,
    /// The new `hashCache` (`None`: unchanged; `Some(None)`: removed).
    hash_cache: Option<Option<Str>>,
    /// A field to mark as indexed.
    new_index: Option<Str>,
}

/// What a write changes besides the rows (see [`TableParts`]).
struct Changes {
    next_id: i64,
    dirty: bool,
    hash_cache: Option<Option<Str>>,
    new_index: Option<Str>,
}

impl TableParts<'_> {
    /// The rows, uniquely owned (copied only if shared).
    pub fn rows_mut(&mut self) -> &mut Record {
        Rc::make_mut(self.rows)
    }

    /// Marks `field` as indexed (`indexes[field] = true`).
    pub fn add_index(&mut self, field: Str) {
        self.new_index = Some(field);
    }

    /// Sets (`Some`) or removes (`None`) `hashCache`.
    pub fn set_hash_cache(&mut self, h: Option<Str>) {
        self.hash_cache = Some(h);
    }

    fn changes(self) -> Changes {
        Changes {
            next_id: self.next_id,
            dirty: self.dirty,
            hash_cache: self.hash_cache,
            new_index: self.new_index,
        }
    }
}

impl Changes {
    /// Writes into table record `rec` the fields that differ from what was
    /// read.
    fn write(self, rec: &mut Record, was: Facts) {
        if self.next_id != i64::from(was.next_id) {
            rec.update("nextId", |v| *v = Value::int(self.next_id));
        }
        if self.dirty != was.dirty {
            rec.update("dirtyHash", |v| *v = Value::Bool(self.dirty));
        }
        match self.hash_cache {
            Some(None) if was.has_hash => {
                rec.remove("hashCache");
            }
            Some(Some(h)) => match rec.get("hashCache") {
                Some(Value::Str(x)) if *x == h => {}
                _ => NAMES.with(|n| rec.insert(n.hash.clone(), Value::Str(h))),
            },
            _ => {}
        }
        if let Some(field) = self.new_index {
            rec.update("indexes", |v| match v {
                Value::Record(ix) => Rc::make_mut(ix).insert(field, Value::Bool(true)),
                _ => unreachable!("a tidy table has indexes"),
            });
        }
    }
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

/// `writeDbTable` for a table that is missing or has missing or extra
/// fields: stores the table record afresh with exactly `nextId`, `rows`,
/// `indexes`, `dirtyHash` and, when held, `hashCache`, as read (defaults for
/// what is absent; any other field is dropped). The write then proceeds as
/// for a tidy table.
fn tidy_table(store: &mut Record, name: &Str, was: Facts) {
    let old = store.get(name).and_then(Value::as_record);
    let field = |f: &str| old.and_then(|t| t.get(f));
    let record_or_empty = |v: Option<&Value>| match v {
        Some(Value::Record(r)) => r.clone(),
        _ => Rc::new(Record::new()),
    };
    let rows = record_or_empty(field("rows"));
    let indexes = record_or_empty(field("indexes"));
    let hash = match field("hashCache") {
        Some(Value::Str(h)) => Some(h.clone()),
        _ => None,
    };
    let mut r = Record::new();
    NAMES.with(|n| {
        r.insert(n.next_id.clone(), Value::int(was.next_id));
        r.insert(n.rows.clone(), Value::Record(rows));
        r.insert(n.indexes.clone(), Value::Record(indexes));
        r.insert(n.dirty.clone(), Value::Bool(was.dirty));
        if let Some(h) = hash {
            r.insert(n.hash.clone(), Value::Str(h));
        }
    });
    // Replacing the old record drops the references taken from it, so the
    // rows and indexes are unshared again unless something else holds them.
    store.insert(name.clone(), Value::record(r));
}

/// Writes table `name` (`writeDbTable`): applies `edit` to its parts in
/// place and stores what changed. The table must have been read by
/// [`read_table`], which gave `was`, and every check must have passed.
///
/// Every level (store, table record, rows) is changed in its own
/// allocation, copied only if something else shares it.
pub(super) fn write_table<R>(
    store: &mut Record,
    name: &Str,
    was: Facts,
    edit: impl FnOnce(&mut TableParts<'_>) -> R,
) -> R {
    if !was.tidy {
        tidy_table(store, name, was);
    }
    store
        .update(name, |t| {
            let Value::Record(rc) = t else {
                unreachable!("a tidy table is a record")
            };
            let rec = Rc::make_mut(rc);
            let (r, changes) = rec
                .update("rows", |rows| {
                    let Value::Record(rows) = rows else {
                        unreachable!("a tidy table has rows")
                    };
                    let mut parts = TableParts {
                        next_id: i64::from(was.next_id),
                        rows,
                        dirty: was.dirty,
                        hash_cache: None,
                        new_index: None,
                    };
                    let r = edit(&mut parts);
                    (r, parts.changes())
                })
                .expect("a tidy table has rows");
            changes.write(rec, was);
            r
        })
        .expect("a tidy table is in the store")
}
