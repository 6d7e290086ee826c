//! [`Record`]: string-keyed fields, read in ascending UTF-16 order of the
//! names.
//!
//! A record has two representations, chosen by its size and never
//! observable:
//!
//! * up to [`SMALL_MAX`] fields (almost every record: rows, messages, table
//!   descriptors) a vector sorted by name: found by comparing lengths (and
//!   bytes of equally long names), placed by binary search. One allocation,
//!   always in order.
//! * beyond that (a table's rows, a cache namespace) a hash table
//!   (`IndexMap`, entries in insertion order, removal moving the last entry
//!   into the gap). Lookups and updates hash once, with no name comparisons
//!   along a search path. The ascending order is materialised only when the
//!   fields are read in order ([`Record::fields`]): the positions in name
//!   order are cached until the next change of the name set, and kept
//!   afterwards (with removed entries blanked out and moved ones
//!   renumbered, in O(1) per change), so reading again sorts only the names
//!   added since and merges them in.
//!
//! The hash table's own order is never iterated where it can be seen: it is
//! used for lookups only (equality, depth and the fields' sizes do not
//! depend on it).

use super::{cmp_utf16, Depth, Str, Value, NODE_SIZE};
use std::cell::OnceCell;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// Records with at most this many fields keep them in a sorted vector.
const SMALL_MAX: usize = 16;

/// A hashed record that shrinks to this many fields goes back to a vector
/// (below [`SMALL_MAX`], so that a record does not switch back and forth
/// around one size).
const SMALL_AGAIN: usize = SMALL_MAX / 2;

/// The hasher of a hashed record's name index: foldhash's fast hasher with
/// its fixed default seed (deterministic, so even the table's internal
/// layout is; it only finds names, its order is never observed). `Str`
/// hashes as `str` does, so either finds a name.
type NameHasher = foldhash::fast::FixedState;

/// Position of `k` in sorted `fields` (`Err`: where it would go).
#[inline]
fn search(fields: &[(Str, Value)], k: &str) -> Result<usize, usize> {
    match find(fields, k) {
        Some(i) => Ok(i),
        None => Err(fields.partition_point(|(x, _)| cmp_utf16(x, k) == Ordering::Less)),
    }
}

/// Position of `k` in `fields`, by equality: for so few names, comparing
/// lengths (and the bytes of equally long names only) is cheaper than a
/// binary search in UTF-16 order. A name looked up by the very string it
/// was stored with is found without reading it.
#[inline]
fn find(fields: &[(Str, Value)], k: &str) -> Option<usize> {
    fields.iter().position(|(x, _)| {
        x.len() == k.len() && (std::ptr::eq(x.as_ptr(), k.as_ptr()) || x.as_bytes() == k.as_bytes())
    })
}

/// The first 16 bytes of `name`, big-endian, zero-padded, when they are
/// all below 0xEE (where byte order is UTF-16 order). For two such names
/// with different keys, the keys order the names as `cmp_utf16` does: the
/// first differing padded byte is either a byte of both names (both below
/// 0xEE, where `cmp_utf16` compares bytes) or lies past the end of the
/// shorter name, which then is a proper prefix of the other and sorts
/// first, as its zero padding does. Equal keys decide nothing.
fn sort_key(name: &str) -> Option<u128> {
    let b = name.as_bytes();
    let head = &b[..b.len().min(16)];
    if !head.iter().all(|&c| c < 0xEE) {
        return None;
    }
    let mut buf = [0u8; 16];
    buf[..head.len()].copy_from_slice(head);
    Some(u128::from_be_bytes(buf))
}

/// Sorts `slots` by name (`cmp_utf16`; names are distinct), given each
/// slot's name and [`sort_key`]. Names with a sort key are sorted by it,
/// with integer operations, and only runs of equal keys by their names; the
/// others are sorted by name and merged in.
fn sort_by_name<'n>(
    slots: impl Iterator<Item = usize>,
    name: impl Fn(usize) -> &'n str,
    key: impl Fn(usize) -> Option<u128>,
) -> Vec<usize> {
    let mut keyed: Vec<(u128, usize)> = Vec::new();
    let mut rest: Vec<usize> = Vec::new();
    for s in slots {
        match key(s) {
            Some(k) => keyed.push((k, s)),
            None => rest.push(s),
        }
    }
    // Ties are ordered below, so the order of equal keys does not matter.
    sort_by_key(&mut keyed);
    let mut i = 0;
    while i < keyed.len() {
        let k = keyed[i].0;
        let mut j = i + 1;
        while j < keyed.len() && keyed[j].0 == k {
            j += 1;
        }
        if j - i > 1 {
            keyed[i..j].sort_unstable_by(|a, b| cmp_utf16(name(a.1), name(b.1)));
        }
        i = j;
    }
    let keyed: Vec<usize> = keyed.into_iter().map(|(_, s)| s).collect();
    if rest.is_empty() {
        return keyed;
    }
    rest.sort_unstable_by(|&a, &b| cmp_utf16(name(a), name(b)));
    merge_by_name(&keyed, &rest, name)
}

/// Sorts `(key, slot)` pairs by key (equal keys in any order). Many are
/// sorted by radix, one pass per byte position where the keys differ (ids
/// such as `rec123` differ in a few), with a counting sort per pass.
fn sort_by_key(v: &mut Vec<(u128, usize)>) {
    const RADIX_MIN: usize = 256;
    if v.len() < RADIX_MIN {
        v.sort_unstable_by_key(|&(k, _)| k);
        return;
    }
    let first = v[0].0;
    let differ = v.iter().fold(0u128, |acc, &(k, _)| acc | (k ^ first));
    let mut from = std::mem::take(v);
    let mut to = vec![(0u128, 0usize); from.len()];
    // Least significant byte first; each pass is stable.
    for shift in (0..128).step_by(8) {
        if (differ >> shift) & 0xff == 0 {
            continue;
        }
        // The byte at `shift` (a multiple of 8), from the 64-bit half
        // holding it.
        let (half, at) = if shift < 64 {
            (0, shift)
        } else {
            (64, shift - 64)
        };
        let digit = |k: u128| (((k >> half) as u64 >> at) & 0xff) as usize;
        let mut start = [0usize; 256];
        for &(k, _) in &from {
            start[digit(k)] += 1;
        }
        let mut sum = 0;
        for c in start.iter_mut() {
            let n = *c;
            *c = sum;
            sum += n;
        }
        for &e in &from {
            let d = digit(e.0);
            to[start[d]] = e;
            start[d] += 1;
        }
        std::mem::swap(&mut from, &mut to);
    }
    *v = from;
}

/// Merges two lists of slots sorted by name (no name in both): each slot
/// of the shorter list is placed by binary search in the longer one.
fn merge_by_name<'n>(a: &[usize], b: &[usize], name: impl Fn(usize) -> &'n str) -> Vec<usize> {
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(a.len() + b.len());
    let mut rest = long;
    for &s in short {
        let k = name(s);
        let at = rest.partition_point(|&x| cmp_utf16(name(x), k) == Ordering::Less);
        out.extend_from_slice(&rest[..at]);
        out.push(s);
        rest = &rest[at..];
    }
    out.extend_from_slice(rest);
    out
}

/// The hash table of a record with many fields: entries in insertion
/// order (removal moves the last entry into the gap), found by hashing the
/// name (the hash is kept with the entry, so growing rehashes no name).
type NameTable = indexmap::IndexMap<Str, Value, NameHasher>;

/// Marks "no position" in [`Large::sorted`] and [`Large::rank`].
const NONE: usize = usize::MAX;

/// [`Large::keys`] of a name without a [`sort_key`] (no sort key is all
/// ones: its bytes are below 0xEE).
const NO_KEY: u128 = u128::MAX;

fn stored_key(name: &str) -> u128 {
    sort_key(name).unwrap_or(NO_KEY)
}

/// The fields of a record with more than [`SMALL_MAX`] fields.
#[derive(Clone, Default)]
struct Large {
    table: NameTable,
    /// Every position of `table` in ascending name order, while valid.
    order: OnceCell<Box<[usize]>>,
    /// While `order` is not valid: the positions of the entries that were
    /// there at the last ordered read, in ascending name order, with
    /// [`NONE`] for those removed since.
    sorted: Vec<usize>,
    /// While `order` is not valid: for each position of `table`, its index
    /// in `sorted`, or [`NONE`] for an entry added since the last ordered
    /// read.
    rank: Vec<usize>,
    /// For each position of `table`, the [`sort_key`] of the name (taken
    /// when the name is added, while its bytes are at hand, so sorting
    /// reads no name unless two keys tie), or [`NO_KEY`].
    keys: Vec<u128>,
}

impl Large {
    /// A table of `fields`, which are sorted by name without duplicates.
    fn from_sorted(fields: Vec<(Str, Value)>) -> Large {
        let n = fields.len();
        let mut table = NameTable::with_capacity_and_hasher(2 * n, Default::default());
        let mut keys = Vec::with_capacity(2 * n);
        for (k, v) in fields {
            keys.push(stored_key(&k));
            table.insert(k, v);
        }
        Large {
            table,
            order: OnceCell::from((0..n).collect::<Box<[usize]>>()),
            sorted: Vec::new(),
            rank: Vec::new(),
            keys,
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.table.len()
    }

    #[inline]
    fn get(&self, k: &str) -> Option<&Value> {
        self.table.get(k)
    }

    #[inline]
    fn get_mut(&mut self, k: &str) -> Option<&mut Value> {
        self.table.get_mut(k)
    }

    /// Turns the cached order into `sorted` and `rank`, before the set of
    /// names changes.
    fn unfreeze(&mut self) {
        if let Some(order) = self.order.take() {
            self.sorted = order.into_vec();
            self.rank.clear();
            self.rank.resize(self.table.len(), NONE);
            for (r, &p) in self.sorted.iter().enumerate() {
                self.rank[p] = r;
            }
        }
    }

    /// Inserts or replaces; gives the replaced value.
    fn insert(&mut self, k: Str, v: Value) -> Option<Value> {
        use indexmap::map::Entry;
        match self.table.entry(k) {
            // Replaced in place: positions, so the order, are unchanged.
            Entry::Occupied(mut e) => Some(e.insert(v)),
            Entry::Vacant(e) => {
                self.keys.push(stored_key(e.key()));
                e.insert(v);
                if self.order.get().is_some() {
                    // The new entry gets no rank there.
                    self.unfreeze();
                } else {
                    self.rank.push(NONE);
                }
                debug_assert_eq!(self.rank.len(), self.table.len());
                debug_assert_eq!(self.keys.len(), self.table.len());
                None
            }
        }
    }

    /// Removes a field; gives its value.
    fn remove(&mut self, k: &str) -> Option<Value> {
        let i = self.table.get_index_of(k)?;
        self.unfreeze();
        let (_, v) = self.table.swap_remove_index(i).expect("present");
        self.keys.swap_remove(i);
        // The entry that was last, at position `last`, is now at `i`.
        let last = self.table.len();
        if self.rank[i] != NONE {
            self.sorted[self.rank[i]] = NONE;
        }
        if i != last {
            let r = self.rank[last];
            self.rank[i] = r;
            if r != NONE {
                self.sorted[r] = i;
            }
        }
        self.rank.pop();
        Some(v)
    }

    /// The positions in ascending name order (see [`Record::fields`]).
    fn order(&self) -> &[usize] {
        self.order.get_or_init(|| self.sorted_positions())
    }

    /// `sorted` without removed entries, merged with the entries added
    /// since, sorted.
    fn sorted_positions(&self) -> Box<[usize]> {
        let name = |p: usize| {
            self.table
                .get_index(p)
                .expect("position in table")
                .0
                .as_str()
        };
        let fresh = sort_by_name(
            (0..self.table.len()).filter(|&p| self.rank.get(p).is_none_or(|&r| r == NONE)),
            name,
            |p| Some(self.keys[p]).filter(|&k| k != NO_KEY),
        );
        let old: Vec<usize> = self.sorted.iter().copied().filter(|&p| p != NONE).collect();
        let out = if old.is_empty() {
            fresh
        } else if fresh.is_empty() {
            old
        } else {
            merge_by_name(&old, &fresh, name)
        };
        debug_assert_eq!(out.len(), self.len(), "every position once");
        out.into_boxed_slice()
    }

    /// Checks the bookkeeping against the table (tests only).
    #[cfg(test)]
    fn check(&self) {
        assert_eq!(self.keys.len(), self.table.len());
        for (p, (k, _)) in self.table.iter().enumerate() {
            assert_eq!(self.keys[p], stored_key(k));
        }
        if self.order.get().is_none() {
            assert_eq!(self.rank.len(), self.table.len());
            for (p, &r) in self.rank.iter().enumerate() {
                if r != NONE {
                    assert_eq!(self.sorted[r], p);
                }
            }
            for (r, &p) in self.sorted.iter().enumerate() {
                if p != NONE {
                    assert_eq!(self.rank[p], r);
                }
            }
        }
    }

    /// Moves the fields out in ascending name order.
    fn into_sorted(mut self) -> Vec<(Str, Value)> {
        let order = self.order.take().unwrap_or_else(|| self.sorted_positions());
        let mut entries: Vec<Option<(Str, Value)>> = self.table.into_iter().map(Some).collect();
        order
            .iter()
            .map(|&p| entries[p].take().expect("each position once"))
            .collect()
    }
}

/// The fields of a record.
#[derive(Clone)]
enum Repr {
    /// Sorted by name (UTF-16 order), at most [`SMALL_MAX`].
    Small(Vec<(Str, Value)>),
    /// Hashed, see [`Large`].
    Large(Box<Large>),
}

impl Default for Repr {
    fn default() -> Repr {
        Repr::Small(Vec::new())
    }
}

/// A record value (fields in UTF-16 order of their names) with its cached
/// nesting depth and size. See the module documentation for how the fields
/// are kept.
#[derive(Clone, Default)]
pub struct Record {
    repr: Repr,
    depth: Depth,
    /// Sum of the field names' lengths and the values' [`Value::size`].
    size: u64,
}

impl PartialEq for Record {
    fn eq(&self, other: &Record) -> bool {
        if self.len() != other.len() || self.size != other.size || self.depth != other.depth {
            return false;
        }
        match (&self.repr, &other.repr) {
            (Repr::Small(a), Repr::Small(b)) => a == b,
            // Same names with equal values (independent of the layout).
            _ => self.each().all(|(k, v)| other.get(k) == Some(v)),
        }
    }
}

impl Eq for Record {}

impl Hash for Record {
    /// The fields in ascending name order, as equality sees them (whatever
    /// the representation).
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.len().hash(state);
        for (k, v) in self.fields() {
            k.hash(state);
            v.hash(state);
        }
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("fields", &self.fields())
            .field("depth", &self.depth)
            .field("size", &self.size)
            .finish()
    }
}

impl Record {
    /// An empty record.
    pub fn new() -> Record {
        Record::default()
    }

    /// The fields in ascending name order (UTF-16 code units).
    ///
    /// For a record with many fields, the first iteration after the set of
    /// names changed sorts the names (only those added since the last
    /// iteration); the view's `len` and `get` need no order.
    pub fn fields(&self) -> Fields<'_> {
        Fields(match &self.repr {
            Repr::Small(f) => FieldsRepr::Small(f),
            Repr::Large(l) => FieldsRepr::Large(l),
        })
    }

    /// The fields in no particular order (only for order-independent uses).
    fn each(&self) -> impl Iterator<Item = (&Str, &Value)> {
        let (small, large): (&[(Str, Value)], Option<&NameTable>) = match &self.repr {
            Repr::Small(f) => (f, None),
            Repr::Large(l) => (&[], Some(&l.table)),
        };
        small
            .iter()
            .map(|(k, v)| (k, v))
            .chain(large.into_iter().flatten())
    }

    /// Number of fields.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Small(f) => f.len(),
            Repr::Large(l) => l.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Looks a field up.
    #[inline]
    pub fn get(&self, k: &str) -> Option<&Value> {
        match &self.repr {
            Repr::Small(f) => find(f, k).map(|i| &f[i].1),
            Repr::Large(l) => l.get(k),
        }
    }

    /// Inserts or replaces a field.
    pub fn insert(&mut self, k: Str, v: Value) {
        let (vd, vs) = (v.depth(), v.size());
        let kl = k.len() as u64;
        let old = match &mut self.repr {
            Repr::Small(f) => match search(f, &k) {
                Ok(i) => Some(std::mem::replace(&mut f[i].1, v)),
                Err(i) if f.len() < SMALL_MAX => {
                    f.insert(i, (k, v));
                    None
                }
                Err(_) => {
                    let mut large = Large::from_sorted(std::mem::take(f));
                    large.insert(k, v);
                    self.repr = Repr::Large(Box::new(large));
                    None
                }
            },
            Repr::Large(l) => l.insert(k, v),
        };
        self.depth.add(vd);
        match old {
            Some(old) => {
                self.size = self.size.wrapping_add(vs).wrapping_sub(old.size());
                if self.depth.remove(old.depth()) {
                    self.recompute();
                }
            }
            None => self.size = self.size.wrapping_add(kl).wrapping_add(vs),
        }
    }

    /// Removes a field.
    pub fn remove(&mut self, k: &str) -> Option<Value> {
        let old = match &mut self.repr {
            Repr::Small(f) => f.remove(find(f, k)?).1,
            Repr::Large(l) => {
                let old = l.remove(k)?;
                if l.len() <= SMALL_AGAIN {
                    let l = std::mem::take(&mut **l);
                    self.repr = Repr::Small(l.into_sorted());
                }
                old
            }
        };
        self.size = self
            .size
            .wrapping_sub(k.len() as u64)
            .wrapping_sub(old.size());
        if self.depth.remove(old.depth()) {
            self.recompute();
        }
        Some(old)
    }

    /// Changes field `k` in place with `f` and gives what `f` returns; `None`
    /// (and `f` is not called) when there is no such field. The cached
    /// depth and size follow the change. The order of the fields does not
    /// change, so this is O(1) besides `f` (plus, when the field was the
    /// record's only deepest one and became shallower, a pass over the
    /// fields for the new depth).
    pub fn update<R>(&mut self, k: &str, f: impl FnOnce(&mut Value) -> R) -> Option<R> {
        let slot = match &mut self.repr {
            Repr::Small(fields) => {
                let i = find(fields, k)?;
                &mut fields[i].1
            }
            Repr::Large(l) => l.get_mut(k)?,
        };
        let (od, os) = (slot.depth(), slot.size());
        let r = f(slot);
        let (nd, ns) = (slot.depth(), slot.size());
        self.size = self.size.wrapping_add(ns).wrapping_sub(os);
        self.depth.add(nd);
        if self.depth.remove(od) {
            self.recompute();
        }
        Some(r)
    }

    fn recompute(&mut self) {
        self.depth = Depth::of(self.each().map(|(_, v)| v.depth()));
    }

    /// Depth of the record value itself.
    #[inline]
    pub fn depth(&self) -> u32 {
        self.depth.max + 1
    }

    /// [`Value::size`] of the record value itself.
    #[inline]
    pub fn size(&self) -> u64 {
        NODE_SIZE.wrapping_add(self.size)
    }

    /// True when the fields are hashed (more than [`SMALL_MAX`]); only for
    /// tests of the representation.
    #[cfg(test)]
    pub(super) fn is_hashed(&self) -> bool {
        matches!(self.repr, Repr::Large(_))
    }

    /// Checks the representation's bookkeeping (tests only).
    #[cfg(test)]
    fn check(&self) {
        match &self.repr {
            Repr::Small(f) => {
                assert!(f.len() <= SMALL_MAX);
                for w in f.windows(2) {
                    assert_eq!(cmp_utf16(&w[0].0, &w[1].0), Ordering::Less);
                }
            }
            Repr::Large(l) => {
                assert!(l.len() > SMALL_AGAIN);
                l.check();
            }
        }
    }
}

impl FromIterator<(Str, Value)> for Record {
    fn from_iter<I: IntoIterator<Item = (Str, Value)>>(iter: I) -> Record {
        let mut r = Record::new();
        for (k, v) in iter {
            r.insert(k, v);
        }
        r
    }
}

/// The fields of a [`Record`] in ascending name order (see
/// [`Record::fields`]).
#[derive(Clone, Copy)]
pub struct Fields<'a>(FieldsRepr<'a>);

#[derive(Clone, Copy)]
enum FieldsRepr<'a> {
    Small(&'a [(Str, Value)]),
    Large(&'a Large),
}

impl<'a> Fields<'a> {
    /// Number of fields.
    pub fn len(&self) -> usize {
        match self.0 {
            FieldsRepr::Small(f) => f.len(),
            FieldsRepr::Large(l) => l.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Looks a field up.
    pub fn get(&self, k: &str) -> Option<&'a Value> {
        match self.0 {
            FieldsRepr::Small(f) => find(f, k).map(|i| &f[i].1),
            FieldsRepr::Large(l) => l.get(k),
        }
    }

    /// The fields in ascending name order.
    pub fn iter(&self) -> FieldsIter<'a> {
        FieldsIter(match self.0 {
            FieldsRepr::Small(f) => IterRepr::Small(f.iter()),
            FieldsRepr::Large(l) => IterRepr::Large {
                table: &l.table,
                order: l.order().iter(),
            },
        })
    }

    /// The names in ascending order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &'a Str> + ExactSizeIterator + 'a {
        self.iter().map(|(k, _)| k)
    }

    /// The values in ascending name order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &'a Value> + ExactSizeIterator + 'a {
        self.iter().map(|(_, v)| v)
    }
}

impl fmt::Debug for Fields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for Fields<'a> {
    type Item = (&'a Str, &'a Value);
    type IntoIter = FieldsIter<'a>;
    fn into_iter(self) -> FieldsIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &Fields<'a> {
    type Item = (&'a Str, &'a Value);
    type IntoIter = FieldsIter<'a>;
    fn into_iter(self) -> FieldsIter<'a> {
        self.iter()
    }
}

/// Iterator over a record's fields in ascending name order.
#[derive(Clone)]
pub struct FieldsIter<'a>(IterRepr<'a>);

#[derive(Clone)]
enum IterRepr<'a> {
    Small(std::slice::Iter<'a, (Str, Value)>),
    Large {
        table: &'a NameTable,
        order: std::slice::Iter<'a, usize>,
    },
}

#[inline]
fn pair(f: &(Str, Value)) -> (&Str, &Value) {
    (&f.0, &f.1)
}

#[inline]
fn at(table: &NameTable, p: usize) -> (&Str, &Value) {
    table.get_index(p).expect("position in table")
}

impl<'a> Iterator for FieldsIter<'a> {
    type Item = (&'a Str, &'a Value);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterRepr::Small(it) => it.next().map(pair),
            IterRepr::Large { table, order } => order.next().map(|&p| at(table, p)),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.0 {
            IterRepr::Small(it) => it.len(),
            IterRepr::Large { order, .. } => order.len(),
        };
        (n, Some(n))
    }
}

impl DoubleEndedIterator for FieldsIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterRepr::Small(it) => it.next_back().map(pair),
            IterRepr::Large { table, order } => order.next_back().map(|&p| at(table, p)),
        }
    }
}

impl ExactSizeIterator for FieldsIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::hash::BuildHasher;

    use super::super::order::tests::arb_edge_char;

    fn s(x: &str) -> Str {
        Str::new(x)
    }

    /// The record must behave as a `BTreeMap` of `Str` (UTF-16 order) does.
    fn check_against(r: &Record, reference: &BTreeMap<Str, Value>) {
        r.check();
        assert_eq!(r.len(), reference.len());
        assert_eq!(r.is_empty(), reference.is_empty());
        let got: Vec<(&Str, &Value)> = r.fields().iter().collect();
        let want: Vec<(&Str, &Value)> = reference.iter().collect();
        assert_eq!(got, want);
        let back: Vec<(&Str, &Value)> = r.fields().iter().rev().collect();
        assert_eq!(back, want.iter().rev().copied().collect::<Vec<_>>());
        assert_eq!(r.fields().len(), reference.len());
        assert!(r.fields().keys().eq(reference.keys()));
        assert!(r.fields().values().eq(reference.values()));
        assert_eq!(r.fields().iter().len(), reference.len());
        for (k, v) in reference {
            assert_eq!(r.get(k), Some(v));
            assert_eq!(r.fields().get(k), Some(v));
            // Looked up by a string in another allocation, too.
            assert_eq!(r.get(&String::from(k.as_str())), Some(v));
        }
        // Same contents built the straightforward way (and in reverse):
        // equal, equally hashed, equally sized and deep, equally ordered.
        let rebuilt: Record = reference
            .iter()
            .rev()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(&rebuilt, r);
        assert_eq!(r, &rebuilt);
        let h = |x: &Record| {
            std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default().hash_one(x)
        };
        assert_eq!(h(&rebuilt), h(r));
        assert_eq!(r.size(), rebuilt.size());
        assert_eq!(r.depth(), rebuilt.depth());
        let want_size = reference.iter().fold(NODE_SIZE, |acc, (k, v)| {
            acc.wrapping_add(k.len() as u64).wrapping_add(v.size())
        });
        assert_eq!(r.size(), want_size);
        let want_depth = 1 + reference.values().map(Value::depth).max().unwrap_or(0);
        assert_eq!(r.depth(), want_depth);
        assert_eq!(
            Value::record(rebuilt.clone()).cmp(&Value::record(r.clone())),
            Ordering::Equal
        );
        if r.len() > SMALL_MAX {
            assert!(r.is_hashed());
        }
        if r.len() <= SMALL_AGAIN {
            assert!(!r.is_hashed());
        }
    }

    fn arb_name() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::collection::vec(arb_edge_char(), 0..4).prop_map(String::from_iter),
            // Long names share 16-byte prefixes (the sort key's reach).
            (prop::collection::vec(arb_edge_char(), 0..3), 0u8..4).prop_map(|(cs, n)| {
                let mut t = "0123456789abcdef".to_string();
                t.extend(cs);
                t.push(char::from(b'a' + n));
                t
            }),
            (0u32..60).prop_map(|n| format!("rec{n}")),
        ]
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Value::int),
            (0i64..3).prop_map(|n| Value::list(vec![Value::int(n)])),
            Just(Value::list(vec![Value::list(vec![])])),
            "[a-c]{0,3}".prop_map(Value::str),
        ]
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(String, Value),
        Remove(String),
        Update(String, Value),
        Read,
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (arb_name(), arb_value()).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => arb_name().prop_map(Op::Remove),
            1 => (arb_name(), arb_value()).prop_map(|(k, v)| Op::Update(k, v)),
            1 => Just(Op::Read),
        ]
    }

    fn run(ops: Vec<Op>) {
        let mut r = Record::new();
        let mut reference: BTreeMap<Str, Value> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Insert(k, v) => {
                    r.insert(s(&k), v.clone());
                    reference.insert(s(&k), v);
                }
                Op::Remove(k) => {
                    // The model is looked up by `Str` (UTF-16 order): a
                    // `str` would search it in byte order.
                    assert_eq!(r.remove(&k), reference.remove(&s(&k)));
                }
                Op::Update(k, v) => {
                    let got = r.update(&k, |x| std::mem::replace(x, v.clone()));
                    let want = reference.get_mut(&s(&k)).map(|x| std::mem::replace(x, v));
                    assert_eq!(got, want);
                }
                Op::Read => check_against(&r, &reference),
            }
            r.check();
            for (k, v) in &reference {
                assert_eq!(r.get(k), Some(v));
            }
        }
        check_against(&r, &reference);
    }

    /// `sort_by_name` of `names` (given in reverse) is their `cmp_utf16` order.
    fn check_sorted_by_name(
        names: std::collections::BTreeSet<String>,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let names: Vec<String> = names.into_iter().collect();
        let mut want: Vec<usize> = (0..names.len()).collect();
        want.sort_by(|&a, &b| cmp_utf16(&names[a], &names[b]));
        let got = sort_by_name(
            (0..names.len()).rev(),
            |i| names[i].as_str(),
            |i| sort_key(&names[i]),
        );
        prop_assert_eq!(got, want);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Lookups, in-place updates and the ascending order agree with a
        /// `BTreeMap` of `Str` (UTF-16 order) through random inserts,
        /// removals, updates and ordered reads, with names around the places
        /// where byte order and UTF-16 order part, and across both
        /// representations (up to 60 names, so records grow past
        /// `SMALL_MAX` and shrink back).
        #[test]
        fn record_agrees_with_ordered_map(ops in prop::collection::vec(arb_op(), 0..200)) {
            run(ops);
        }

        /// Many names: hashed records with removals (moving entries), and
        /// merges of new names into the sorted list.
        #[test]
        fn large_record_agrees_with_ordered_map(
            ops in prop::collection::vec(arb_op(), 100..400),
        ) {
            run(ops);
        }

        /// Sorting by sort keys orders names exactly as `cmp_utf16` does.
        #[test]
        fn sorting_by_name_is_utf16_order(names in prop::collection::btree_set(arb_name(), 0..40)) {
            check_sorted_by_name(names)?;
        }

        /// Many names (the radix sort) with shared prefixes, some longer
        /// than 16 bytes, some with characters at or above U+E000.
        #[test]
        fn sorting_many_names_is_utf16_order(
            names in prop::collection::btree_set(
                prop_oneof![
                    arb_name(),
                    (0u32..100_000).prop_map(|n| format!("rec{n}")),
                    (0u32..1000, arb_name()).prop_map(|(n, t)| format!("0123456789abcdef{n}{t}")),
                ],
                256..600,
            ),
        ) {
            check_sorted_by_name(names)?;
        }

        /// Equal strings hash alike as `Str` and as `str`.
        #[test]
        fn names_hash_alike_as_str_and_text(t in ".{0,40}") {
            let b = NameHasher::default();
            prop_assert_eq!(b.hash_one(Str::new(t.as_str())), b.hash_one(t.as_str()));
        }
    }

    #[test]
    fn sort_key_boundaries() {
        let cases = [
            ("", "a"),
            ("a", "a\0"),
            ("a\0", "a\u{1}"),
            ("a\0b", "a"),
            ("0123456789abcdef", "0123456789abcdef\0"),
            ("0123456789abcdefa", "0123456789abcdefb"),
            ("0123456789abcde\u{e000}", "0123456789abcde\u{10000}"),
            ("0123456789abcdef\u{e000}", "0123456789abcdef\u{10000}"),
            ("\u{ffff}", "\u{10000}"),
            ("\u{d7ff}", "\u{10000}"),
            ("rec10", "rec2"),
        ];
        for (a, b) in cases {
            let names = [a, b];
            let want = if cmp_utf16(a, b) == Ordering::Less {
                [0, 1]
            } else {
                [1, 0]
            };
            let key = |i: usize| sort_key(names[i]);
            assert_eq!(sort_by_name(0..2, |i| names[i], key), want, "{a:?} {b:?}");
            assert_eq!(
                sort_by_name((0..2).rev(), |i| names[i], key),
                want,
                "{a:?} {b:?}"
            );
            if let (Some(ka), Some(kb)) = (sort_key(a), sort_key(b)) {
                if ka != kb {
                    assert_eq!(ka.cmp(&kb), cmp_utf16(a, b), "{a:?} {b:?}");
                }
            }
        }
        assert_eq!(sort_key("a\u{e000}"), None);
        assert!(sort_key("0123456789abcdef\u{e000}").is_some());
    }

    #[test]
    fn name_hasher_spreads_row_ids() {
        let b = NameHasher::default();
        let mut low = std::collections::HashSet::new();
        let mut high = std::collections::HashSet::new();
        for i in 0..4096 {
            let h = b.hash_one(format!("rec{i}").as_str());
            low.insert(h & 0xfff);
            high.insert(h >> 57);
        }
        // A uniform hash fills about 63% of 4096 buckets and all 128 tags.
        assert!(low.len() > 2300, "{}", low.len());
        assert_eq!(high.len(), 128);
        // Every length takes its own path.
        let hashes: std::collections::HashSet<u64> = [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "abcdefg",
            "abcdefgh",
            "abcdefghi",
            "abcdefghijklmnopq",
        ]
        .iter()
        .map(|t| b.hash_one(t))
        .collect();
        assert_eq!(hashes.len(), 9);
    }

    #[test]
    fn grows_hashed_and_shrinks_back() {
        let mut r = Record::new();
        let mut reference = BTreeMap::new();
        for i in 0..200 {
            let k = s(&format!("k{i}"));
            r.insert(k.clone(), Value::int(i));
            reference.insert(k, Value::int(i));
            if i % 9 == 0 {
                check_against(&r, &reference);
            }
        }
        assert!(r.is_hashed());
        // Removing after a read, removing many (compaction), re-inserting.
        for i in (0..200).step_by(3) {
            let k = format!("k{i}");
            assert_eq!(r.remove(&k), reference.remove(&s(&k)));
            if i % 30 == 0 {
                check_against(&r, &reference);
            }
        }
        r.insert(s("k0"), Value::Unit);
        reference.insert(s("k0"), Value::Unit);
        check_against(&r, &reference);
        let keys: Vec<Str> = reference.keys().cloned().collect();
        for k in keys {
            assert_eq!(r.remove(&k), reference.remove(&k));
            if reference.len() % 17 == 0 {
                check_against(&r, &reference);
            }
        }
        assert!(!r.is_hashed());
        check_against(&r, &reference);
        assert_eq!(r.remove("k0"), None);
    }

    #[test]
    fn lookups_build_no_order() {
        let mut r = Record::new();
        for i in 0..100 {
            r.insert(s(&format!("k{i}")), Value::int(i));
        }
        let ordered = |r: &Record| match &r.repr {
            Repr::Large(l) => l.order.get().is_some(),
            Repr::Small(_) => unreachable!("100 fields are hashed"),
        };
        assert!(!ordered(&r));
        assert_eq!(r.fields().get("k7"), Some(&Value::int(7i64)));
        assert_eq!(r.fields().len(), 100);
        assert_eq!(r.get("k99"), Some(&Value::int(99i64)));
        assert_eq!(r.update("k3", |v| v.clone()), Some(Value::int(3i64)));
        assert!(!ordered(&r));
        assert_eq!(r.fields().keys().next(), Some(&s("k0")));
        assert!(ordered(&r));
        // Replacing a value keeps the order; a new name drops it.
        r.insert(s("k5"), Value::Unit);
        assert!(ordered(&r));
        r.insert(s("new"), Value::Unit);
        assert!(!ordered(&r));
    }

    #[test]
    fn update_keeps_depth_and_size() {
        let mut r = Record::new();
        r.insert(s("a"), Value::list(vec![Value::list(vec![])]));
        r.insert(s("b"), Value::int(1i64));
        assert_eq!(r.depth(), 3);
        assert_eq!(r.update("a", |v| *v = Value::Unit), Some(()));
        assert_eq!(r.depth(), 1);
        assert_eq!(r.size(), NODE_SIZE + 2 + 2 * NODE_SIZE);
        assert_eq!(r.update("c", |_| unreachable!("no field c")), None::<()>);
        assert_eq!(r.update("b", |v| v.clone()), Some(Value::int(1i64)));
    }

    #[test]
    fn debug_lists_fields_in_order() {
        let r: Record = [(s("b"), Value::Unit), (s("a"), Value::Unit)]
            .into_iter()
            .collect();
        assert_eq!(
            format!("{r:?}"),
            "Record { fields: {\"a\": Unit, \"b\": Unit}, depth: Depth { max: 0, at_max: 2 }, size: 34 }"
        );
    }
}
