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
//! The db builtins update the cache in step with their own writes (and only
//! they change the rows in place: they let go of the `Weak` for the length of
//! the write, see [`DbCache::unpin`]); any other change shows up as a
//! different rows pointer and the entry is rebuilt lazily. Nothing here is observable: results are the same with or without
//! it, and it is never serialised.

use super::query::{Cond, Op, Query};
use crate::value::{cmp_utf16, Record, Str, Value};
use std::cmp::Ordering;
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

/// One secondary index: field value -> ids of the rows holding it. Keys are
/// ordered by [`Value`]'s `Ord`, which is consistent with structural
/// equality, so an equality lookup finds exactly the equal values and a range
/// scan visits exactly the values the `$gt`-style operators accept. Rows that
/// are not records or lack the field are not indexed.
#[derive(Clone, Debug, Default)]
pub(super) struct FieldIndex {
    map: BTreeMap<Value, IdSet>,
}

/// A set of row ids, iterated in id order (UTF-16 code units).
///
/// An id of at most 16 bytes, none of them 0 and all below 0xEE (every id
/// `db.insert` makes: `rec` and up to 13 digits), is kept packed big-endian
/// in a `u128`, zero-padded: comparing two such ids is comparing two
/// integers, with no pointer to follow. For these strings integer order is
/// byte order (a proper prefix pads with zeros, below any byte of the longer
/// string), and byte order is UTF-16 order (no byte at or above 0xEE, see
/// [`cmp_utf16`]). Any other id is kept as text in a second set; iteration
/// merges the two.
///
/// Packed ids are added to a plain list first and moved into the ordered
/// set only when the set is next read in order or loses an id
/// ([`IdSet::settle`]): all at once, by sorting them and, when there are
/// many, rebuilding the set from the merged sorted sequence. An index
/// filled by many inserts between queries thus costs a sort, not a tree
/// insertion per row, and a set never read costs nothing more.
#[derive(Clone, Debug, Default)]
pub(super) struct IdSet {
    packed: BTreeSet<u128>,
    /// Packed ids added since the last settle, in no order. None of them is
    /// in `packed` and none is there twice: an index adds a row's id only
    /// when the row is not indexed under any value (see [`FieldIndex`]).
    pending: Vec<u128>,
    text: BTreeSet<Str>,
}

/// One row id taken from an [`IdSet`]. A given string always has the same
/// representation (packed whenever it can be), so the derived equality
/// agrees with [`Ord`], which is the order of the id strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum IdKey {
    /// The id's bytes, big-endian, zero-padded to 16.
    Packed(u128),
    /// Any other id.
    Text(Str),
}

/// `id` packed, when it qualifies (see [`IdSet`]).
fn pack(id: &str) -> Option<u128> {
    let b = id.as_bytes();
    if b.len() > 16 || !b.iter().all(|&c| c != 0 && c < 0xEE) {
        return None;
    }
    let mut buf = [0u8; 16];
    buf[..b.len()].copy_from_slice(b);
    Some(u128::from_be_bytes(buf))
}

/// The text of a packed id (`buf` receives its bytes).
fn unpack(p: u128, buf: &mut [u8; 16]) -> &str {
    *buf = p.to_be_bytes();
    let len = buf.iter().position(|&c| c == 0).unwrap_or(16);
    std::str::from_utf8(&buf[..len]).expect("packed from a str")
}

impl IdKey {
    /// Calls `f` with the id's text.
    pub fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            IdKey::Packed(p) => f(unpack(*p, &mut [0; 16])),
            IdKey::Text(s) => f(s),
        }
    }
}

impl Ord for IdKey {
    fn cmp(&self, other: &IdKey) -> Ordering {
        match (self, other) {
            (IdKey::Packed(a), IdKey::Packed(b)) => a.cmp(b),
            _ => self.with_text(|a| other.with_text(|b| cmp_utf16(a, b))),
        }
    }
}

impl PartialOrd for IdKey {
    fn partial_cmp(&self, other: &IdKey) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl IdSet {
    /// Adds `id`, which must not be in the set.
    fn insert(&mut self, id: &Str) {
        match pack(id) {
            Some(p) => {
                debug_assert!(!self.packed.contains(&p), "id indexed twice");
                self.pending.push(p);
            }
            None => {
                self.text.insert(id.clone());
            }
        }
    }

    fn remove(&mut self, id: &Str) {
        match pack(id) {
            Some(p) => {
                self.settle();
                self.packed.remove(&p);
            }
            None => {
                self.text.remove(id);
            }
        }
    }

    /// Moves the pending ids into the ordered set. Few are inserted one by
    /// one; many (a quarter of the set or more) are merged with the set
    /// into a new one, built in one pass from the sorted sequence.
    fn settle(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut pending = std::mem::take(&mut self.pending);
        if pending.len() * 4 < self.packed.len() {
            self.packed.extend(pending);
            return;
        }
        pending.sort_unstable();
        let old = std::mem::take(&mut self.packed);
        let mut merged = Vec::with_capacity(old.len() + pending.len());
        let mut new = pending.into_iter().peekable();
        for p in old {
            while let Some(q) = new.next_if(|&q| q < p) {
                merged.push(q);
            }
            merged.push(p);
        }
        merged.extend(new);
        // Sorted input: `from_iter` builds the tree without comparisons
        // beyond checking the order.
        self.packed = merged.into_iter().collect();
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.packed.len() + self.pending.len() + self.text.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids in ascending order. The set must be settled
    /// ([`FieldIndex::settle_for`]).
    pub fn iter(&self) -> impl Iterator<Item = IdKey> + '_ {
        debug_assert!(self.pending.is_empty(), "iterating an unsettled id set");
        let mut packed = self.packed.iter().copied().peekable();
        let mut text = self.text.iter().peekable();
        std::iter::from_fn(move || {
            let take_packed = match (packed.peek(), text.peek()) {
                (None, None) => return None,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                // Never equal: a packable id is never in `text`.
                (Some(&p), Some(t)) => cmp_utf16(unpack(p, &mut [0; 16]), t) == Ordering::Less,
            };
            if take_packed {
                packed.next().map(IdKey::Packed)
            } else {
                text.next().map(|t| IdKey::Text(t.clone()))
            }
        })
    }
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
            // Looked up first so the value is cloned only for a new entry.
            match self.map.get_mut(v) {
                Some(set) => set.insert(id),
                None => {
                    let mut set = IdSet::default();
                    set.insert(id);
                    self.map.insert(v.clone(), set);
                }
            }
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

    /// Settles ([`IdSet::settle`]) the sets a query condition can read: the
    /// set of the value an equality names, every set otherwise.
    pub(super) fn settle_for(&mut self, cond: &Cond) {
        match cond {
            Cond::Eq(v) => {
                if let Some(set) = self.map.get_mut(v) {
                    set.settle();
                }
            }
            Cond::Ops(_) => self.map.values_mut().for_each(IdSet::settle),
        }
    }

    /// Number of ids under the keys in `range`.
    fn count_range(&self, range: (Bound<&Value>, Bound<&Value>)) -> usize {
        self.map.range(range).map(|(_, s)| s.len()).sum()
    }
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

/// The value of `field` in a record row.
pub(super) fn field_of<'a>(row: &'a Value, field: &Str) -> Option<&'a Value> {
    match row {
        Value::Record(r) => r.get(field),
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

    /// Makes the indexes ready for [`candidates`] of `q`: settles the id
    /// sets its conditions can read.
    pub fn settle_for(&mut self, q: &Query) {
        for (field, cond) in &q.conds {
            if let Some(ix) = self.indexes.get_mut(field) {
                ix.settle_for(cond);
            }
        }
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

    /// Drops the entry's hold on its rows record just before a builtin
    /// writes the table, so that the write can change the rows in place
    /// (`Rc::make_mut` moves a value with outstanding `Weak`s to a new
    /// allocation). [`DbCache::after_write`] takes hold again right after,
    /// with nothing in between: the entry is then either updated in step
    /// with the write or reset, so describing the changed rows at the same
    /// address is correct.
    ///
    /// Gives [`DbCache::is_valid`] for `rows`, the rows before the write.
    pub(super) fn unpin(&mut self, table: &Str, rows: Option<*const Record>) -> bool {
        let Some(tc) = self.tables.get_mut(table) else {
            return false;
        };
        let valid = rows.is_some_and(|p| tc.describes(p));
        tc.rows = Weak::new();
        valid
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
    Set(&'a IdSet),
    /// Ids gathered from several index entries, sorted and deduplicated.
    Ids(Vec<IdKey>),
}

/// One way an indexed condition narrows the rows.
enum Probe<'a> {
    Exact(Option<&'a IdSet>),
    Many(&'a FieldIndex, Vec<&'a Value>),
    Range(&'a FieldIndex, Bound<&'a Value>, Bound<&'a Value>),
}

/// Chooses the rows a query must look at, using the built indexes. Every
/// row that can match is among the candidates (the full matcher still runs
/// on each), so the answer never depends on this choice. The indexes must
/// be settled for `q` ([`TableCache::settle_for`]).
pub(super) fn candidates<'a>(q: &'a Query, tc: &'a TableCache, n_rows: usize) -> Candidates<'a> {
    let mut best_exact: Option<Option<&'a IdSet>> = None;
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
                let len = set.map_or(0, IdSet::len);
                if best_exact.is_none_or(|b| len < b.map_or(0, IdSet::len)) {
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
                .map(|v| ix.map.get(*v).map_or(0, IdSet::len))
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
    let mut ids: Vec<IdKey> = Vec::with_capacity(n);
    match p {
        Probe::Many(ix, vals) => {
            for v in vals {
                if let Some(s) = ix.map.get(v) {
                    ids.extend(s.iter());
                }
            }
        }
        Probe::Range(ix, lo, hi) => {
            for (_, s) in ix.map.range((lo, hi)) {
                ids.extend(s.iter());
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Ids around every boundary of the packed form: short and 16-byte
    /// ASCII, 17 bytes, NUL, bytes at and above 0xEE (U+E000 and up),
    /// supplementary characters, and proper prefixes of one another.
    fn id() -> impl Strategy<Value = String> {
        let c = prop_oneof![
            prop::char::range('0', '9'),
            Just('r'),
            Just('\0'),
            prop::char::range('\u{7f}', '\u{80}'),
            prop::char::range('\u{d7ff}', '\u{d7ff}'),
            prop::char::range('\u{e000}', '\u{e001}'),
            prop::char::range('\u{ffff}', '\u{ffff}'),
            prop::char::range('\u{10000}', '\u{10001}'),
        ];
        prop_oneof![
            (0u64..5000).prop_map(|n| format!("rec{n}")),
            prop::collection::vec(c, 0..18).prop_map(String::from_iter),
            Just("rec1234567890123".to_string()),
            Just("rec12345678901234".to_string()),
        ]
    }

    fn texts(set: &IdSet) -> Vec<String> {
        set.iter().map(|k| k.with_text(str::to_string)).collect()
    }

    #[test]
    fn packing_is_exact_at_the_boundaries() {
        assert_eq!(pack(""), Some(0));
        assert!(pack("rec1234567890123").is_some()); // 16 bytes
        assert!(pack("rec12345678901234").is_none()); // 17 bytes
        assert!(pack("a\0").is_none());
        assert!(pack("a\u{e000}").is_none());
        assert!(pack("a\u{d7ff}").is_some());
        for s in ["", "rec0", "rec1234567890123", "a\u{d7ff}b"] {
            let p = pack(s).unwrap();
            assert_eq!(unpack(p, &mut [0; 16]), s);
        }
        assert!(pack("rec1").unwrap() < pack("rec10").unwrap());
        assert!(pack("rec10").unwrap() < pack("rec2").unwrap());
    }

    proptest! {
        /// The fast set iterates exactly the straightforward one: the same
        /// ids, in the order of `Str` (UTF-16 code units), through adds
        /// (of absent ids, as an index adds them), removals of present and
        /// absent ids and reads in any interleaving, so that pending ids are
        /// settled one by one and by rebuilding.
        #[test]
        fn id_set_matches_an_ordered_set_of_strings(
            ops in prop::collection::vec((0u8..10, id()), 0..200),
        ) {
            let mut fast = IdSet::default();
            let mut plain: BTreeSet<Str> = BTreeSet::new();
            for (op, x) in ops {
                let x = Str::new(x.as_str());
                match op {
                    0..=5 => {
                        if plain.insert(x.clone()) {
                            fast.insert(&x);
                        }
                    }
                    6..=8 => {
                        fast.remove(&x);
                        plain.remove(&x);
                    }
                    _ => {
                        fast.settle();
                        let want: Vec<String> = plain.iter().map(|s| s.to_string()).collect();
                        prop_assert_eq!(texts(&fast), want);
                    }
                }
                prop_assert_eq!(fast.len(), plain.len());
            }
            prop_assert_eq!(fast.len(), plain.len());
            fast.settle();
            let want: Vec<String> = plain.iter().map(|s| s.to_string()).collect();
            prop_assert_eq!(texts(&fast), want);
            prop_assert_eq!(fast.len(), plain.len());
            prop_assert_eq!(fast.is_empty(), plain.is_empty());
            // IdKey's order is the order of the texts.
            let keys: Vec<IdKey> = fast.iter().collect();
            for w in keys.windows(2) {
                prop_assert_eq!(w[0].cmp(&w[1]), Ordering::Less);
            }
        }
    }
}
