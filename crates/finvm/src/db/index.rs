//! Derived data kept outside the state: per-table secondary indexes and the
//! current table hash.
//!
//! Tables live in state as ordinary values, so state can change behind the
//! builtins' back (`STATE_SET "__finvm.db"`, deliveries, snapshot resume,
//! state overrides). A [`TableCache`] therefore records *which* rows record
//! it describes, as a `Weak` pointer to the rows' `Rc` allocation, and is used
//! only while the table's current rows are that very allocation:
//!
//! * while the `Weak` lives, the allocation cannot be freed and reused, so an
//!   equal address means the same allocation;
//! * an `Rc` with an outstanding `Weak` cannot be changed in place
//!   (`Rc::get_mut` refuses, `Rc::make_mut` moves the value to a fresh
//!   allocation), so the same allocation means unchanged contents.
//!
//! The db builtins update the cache in step with their own writes; any other
//! change shows up as a different rows pointer and the entry is rebuilt
//! lazily. Nothing here is observable: results are the same with or without
//! it, and it is never serialised.

use super::query::{Cond, Op, Query};
use crate::value::{Record, Str, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::rc::{Rc, Weak};

/// The db builtins' derived-data cache (one entry per table name), held in
/// [`crate::machine::Core`].
#[derive(Clone, Debug, Default)]
pub struct DbCache {
    tables: BTreeMap<Str, TableCache>,
}

/// Derived data for one table.
#[derive(Clone, Debug)]
pub(super) struct TableCache {
    /// The rows record this entry describes.
    rows: Weak<Record>,
    /// SHA-256 hex of the canonical text of the rows record.
    pub hash: Option<Str>,
    /// Built indexes by field.
    pub indexes: BTreeMap<Str, FieldIndex>,
}

/// One secondary index: field value -> ids of the rows holding it, in id
/// order. Keys are ordered by [`Value`]'s `Ord`, which is consistent with
/// structural equality, so an equality lookup finds exactly the equal values
/// and a range scan visits exactly the values the `$gt`-style operators
/// accept. Rows that are not records or lack the field are not indexed.
#[derive(Clone, Debug, Default)]
pub(super) struct FieldIndex {
    map: BTreeMap<Value, BTreeSet<Str>>,
}

/// How a write changed the rows.
pub(super) enum Delta<'a> {
    /// No row changed.
    None,
    /// Row `id` was added (no row had that id).
    Insert { id: &'a Str, new: &'a Value },
    /// The rows changed in a way not worth following: rebuild.
    Reset,
    /// Row `id` was set to `new` (replacing `old`, if any).
    Put {
        id: &'a Str,
        old: Option<Value>,
        new: &'a Value,
    },
    /// Row `id` (which held `old`) was removed.
    Remove { id: &'a Str, old: Value },
}

impl FieldIndex {
    fn build(rows: &Record, field: &Str) -> FieldIndex {
        let mut ix = FieldIndex::default();
        for (id, row) in rows.fields() {
            ix.add(field, id, row);
        }
        ix
    }

    fn add(&mut self, field: &Str, id: &Str, row: &Value) {
        if let Some(v) = field_of(row, field) {
            self.map.entry(v.clone()).or_default().insert(id.clone());
        }
    }

    fn remove(&mut self, field: &Str, id: &Str, row: &Value) {
        if let Some(v) = field_of(row, field) {
            if let Some(set) = self.map.get_mut(v) {
                set.remove(id);
                if set.is_empty() {
                    self.map.remove(v);
                }
            }
        }
    }

    /// Number of ids under the keys in `range`.
    fn count_range(&self, range: (Bound<&Value>, Bound<&Value>)) -> usize {
        self.map.range(range).map(|(_, s)| s.len()).sum()
    }
}

/// The value of `field` in a record row.
pub(super) fn field_of<'a>(row: &'a Value, field: &Str) -> Option<&'a Value> {
    match row {
        Value::Record(r) => r.fields().get(field),
        _ => None,
    }
}

impl TableCache {
    fn fresh(rows: &Rc<Record>) -> TableCache {
        TableCache {
            rows: Rc::downgrade(rows),
            hash: None,
            indexes: BTreeMap::new(),
        }
    }

    fn describes(&self, rows: *const Record) -> bool {
        std::ptr::eq(self.rows.as_ptr(), rows)
    }

    /// Builds the index on `field` unless it is built already.
    pub fn ensure_index(&mut self, rows: &Record, field: &Str) {
        if !self.indexes.contains_key(field) {
            self.indexes
                .insert(field.clone(), FieldIndex::build(rows, field));
        }
    }

    fn apply(&mut self, delta: &Delta<'_>) {
        match delta {
            Delta::None => return,
            Delta::Insert { id, new } => {
                for (field, ix) in self.indexes.iter_mut() {
                    ix.add(field, id, new);
                }
            }
            Delta::Reset => self.indexes.clear(),
            Delta::Put { id, old, new } => {
                for (field, ix) in self.indexes.iter_mut() {
                    if let Some(old) = old {
                        ix.remove(field, id, old);
                    }
                    ix.add(field, id, new);
                }
            }
            Delta::Remove { id, old } => {
                for (field, ix) in self.indexes.iter_mut() {
                    ix.remove(field, id, old);
                }
            }
        }
        self.hash = None;
    }
}

impl DbCache {
    /// True when the entry for `table` describes the rows at `rows`.
    pub(super) fn is_valid(&self, table: &Str, rows: Option<*const Record>) -> bool {
        match (self.tables.get(table), rows) {
            (Some(tc), Some(p)) => tc.describes(p),
            _ => false,
        }
    }

    /// The entry for `table`, made to describe `rows` (a stale entry is
    /// replaced by an empty one).
    pub(super) fn entry(&mut self, table: &Str, rows: &Rc<Record>) -> &mut TableCache {
        let valid = self.is_valid(table, Some(Rc::as_ptr(rows)));
        if !valid {
            self.tables.insert(table.clone(), TableCache::fresh(rows));
        }
        self.tables.get_mut(table).expect("entry present")
    }

    /// Records a builtin's write: `was_valid` is [`DbCache::is_valid`] for
    /// the rows before the write, `rows` the rows after it, `delta` the
    /// change. A valid entry is updated incrementally; otherwise the entry is
    /// reset (its indexes are rebuilt when a query needs them).
    pub(super) fn after_write(
        &mut self,
        table: &Str,
        was_valid: bool,
        rows: &Rc<Record>,
        delta: Delta<'_>,
    ) {
        if was_valid {
            let tc = self.tables.get_mut(table).expect("valid entry");
            tc.apply(&delta);
            tc.rows = Rc::downgrade(rows);
        } else {
            self.tables.insert(table.clone(), TableCache::fresh(rows));
        }
    }
}

/// Rows to examine for a query, all in ascending id order.
pub(super) enum Candidates<'a> {
    /// Every row.
    Scan,
    /// The ids of one index entry.
    Set(&'a BTreeSet<Str>),
    /// Ids gathered from several index entries, sorted and deduplicated.
    Ids(Vec<Str>),
}

/// One way an indexed condition narrows the rows.
enum Probe<'a> {
    Exact(Option<&'a BTreeSet<Str>>),
    Many(&'a FieldIndex, Vec<&'a Value>),
    Range(&'a FieldIndex, Bound<&'a Value>, Bound<&'a Value>),
}

/// Chooses the rows a query must look at, using the built indexes. Every
/// row that can match is among the candidates (the full matcher still runs
/// on each), so the answer never depends on this choice.
pub(super) fn candidates<'a>(q: &'a Query, tc: &'a TableCache, n_rows: usize) -> Candidates<'a> {
    let mut best_exact: Option<Option<&'a BTreeSet<Str>>> = None;
    let mut others: Vec<Probe<'a>> = Vec::new();
    for (field, cond) in &q.conds {
        let Some(ix) = tc.indexes.get(field) else {
            continue;
        };
        let probe = match cond {
            Cond::Eq(v) => Probe::Exact(ix.map.get(v)),
            Cond::Ops(ops) => match ops_probe(ix, ops) {
                Some(p) => p,
                None => continue,
            },
        };
        match probe {
            Probe::Exact(set) => {
                let len = set.map_or(0, BTreeSet::len);
                if best_exact.is_none_or(|b| len < b.map_or(0, BTreeSet::len)) {
                    best_exact = Some(set);
                }
            }
            p => others.push(p),
        }
    }
    if let Some(set) = best_exact {
        return match set {
            Some(s) => Candidates::Set(s),
            None => Candidates::Ids(Vec::new()),
        };
    }
    // Gathering and sorting ids only pays when it skips most of the table
    // (unit tests always take the index path, to exercise it).
    let budget = if cfg!(test) { usize::MAX } else { n_rows / 4 };
    let mut best: Option<(usize, Probe<'a>)> = None;
    for p in others {
        let n = match &p {
            Probe::Many(ix, vals) => vals
                .iter()
                .map(|v| ix.map.get(*v).map_or(0, BTreeSet::len))
                .sum(),
            Probe::Range(ix, lo, hi) => ix.count_range((*lo, *hi)),
            Probe::Exact(_) => unreachable!("exact probes handled above"),
        };
        if n <= budget && best.as_ref().is_none_or(|(m, _)| n < *m) {
            best = Some((n, p));
        }
    }
    let Some((n, p)) = best else {
        return Candidates::Scan;
    };
    let mut ids: Vec<Str> = Vec::with_capacity(n);
    match p {
        Probe::Many(ix, vals) => {
            for v in vals {
                if let Some(s) = ix.map.get(v) {
                    ids.extend(s.iter().cloned());
                }
            }
        }
        Probe::Range(ix, lo, hi) => {
            for (_, s) in ix.map.range((lo, hi)) {
                ids.extend(s.iter().cloned());
            }
        }
        Probe::Exact(_) => unreachable!("exact probes handled above"),
    }
    ids.sort_unstable();
    ids.dedup();
    Candidates::Ids(ids)
}

/// The narrowing an operator object allows on an indexed field: `$eq`, then
/// `$in`, then the range given by `$gt/$gte/$lt/$lte`.
fn ops_probe<'a>(ix: &'a FieldIndex, ops: &'a [Op]) -> Option<Probe<'a>> {
    if let Some(v) = ops.iter().find_map(|o| match o {
        Op::Eq(v) => Some(v),
        _ => None,
    }) {
        return Some(Probe::Exact(ix.map.get(v)));
    }
    if let Some(l) = ops.iter().find_map(|o| match o {
        Op::In(l) => Some(l),
        _ => None,
    }) {
        return Some(Probe::Many(ix, l.items().iter().collect()));
    }
    let mut lo: Bound<&Value> = Bound::Unbounded;
    let mut hi: Bound<&Value> = Bound::Unbounded;
    let mut ranged = false;
    for o in ops {
        match o {
            Op::Gt(v) => lo = tighter_lo(lo, Bound::Excluded(v)),
            Op::Gte(v) => lo = tighter_lo(lo, Bound::Included(v)),
            Op::Lt(v) => hi = tighter_hi(hi, Bound::Excluded(v)),
            Op::Lte(v) => hi = tighter_hi(hi, Bound::Included(v)),
            _ => continue,
        }
        ranged = true;
    }
    if !ranged {
        return None;
    }
    if range_is_empty(lo, hi) {
        return Some(Probe::Exact(None));
    }
    Some(Probe::Range(ix, lo, hi))
}

fn bound_value(b: Bound<&Value>) -> Option<&Value> {
    match b {
        Bound::Included(v) | Bound::Excluded(v) => Some(v),
        Bound::Unbounded => None,
    }
}

fn tighter_lo<'a>(a: Bound<&'a Value>, b: Bound<&'a Value>) -> Bound<&'a Value> {
    match (bound_value(a), bound_value(b)) {
        (None, _) => b,
        (_, None) => a,
        (Some(x), Some(y)) => match x.cmp(y) {
            std::cmp::Ordering::Less => b,
            std::cmp::Ordering::Greater => a,
            std::cmp::Ordering::Equal => {
                if matches!(a, Bound::Excluded(_)) {
                    a
                } else {
                    b
                }
            }
        },
    }
}

fn tighter_hi<'a>(a: Bound<&'a Value>, b: Bound<&'a Value>) -> Bound<&'a Value> {
    match (bound_value(a), bound_value(b)) {
        (None, _) => b,
        (_, None) => a,
        (Some(x), Some(y)) => match x.cmp(y) {
            std::cmp::Ordering::Less => a,
            std::cmp::Ordering::Greater => b,
            std::cmp::Ordering::Equal => {
                if matches!(a, Bound::Excluded(_)) {
                    a
                } else {
                    b
                }
            }
        },
    }
}

/// True when no value lies between the bounds (`BTreeMap::range` would
/// panic on such a range).
fn range_is_empty(lo: Bound<&Value>, hi: Bound<&Value>) -> bool {
    match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a), Bound::Excluded(b))
        | (Bound::Excluded(a), Bound::Included(b))
        | (Bound::Excluded(a), Bound::Excluded(b)) => a >= b,
        _ => false,
    }
}
