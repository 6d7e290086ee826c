//! The FinVM [`Value`]: 21 constructors, immutable semantics, cheap aliasing.
//!
//! Composite values live behind `Rc` and are copied on write
//! (`Rc::make_mut`), so `MOVE` and register copies are O(1) and an unshared
//! list grows in place. A `Value` is 16 bytes: every payload is a thin pointer
//! or fits inline ([`Int::Small`]).
//!
//! Lists, maps and records cache their nesting depth and their size
//! ([`Value::size`]) so `maxValueDepth` and `maxValueSize` can be enforced in
//! O(1) per update.

pub mod canon;
pub mod json;
mod order;
mod record;
pub mod show;

pub use order::cmp_utf16;
pub use record::{Fields, FieldsIter, Record};

use crate::num::{Fixed, Int, Rational};
use std::cell::OnceCell;
use std::fmt;
use std::rc::Rc;

/// An immutable string shared by reference. Ordered by UTF-16 code units, as
/// JavaScript orders strings.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Str(Rc<String>);

impl Str {
    /// Creates a string.
    pub fn new(s: impl Into<String>) -> Str {
        Str(Rc::new(s.into()))
    }

    /// The text.
    #[inline]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Length in UTF-16 code units.
    pub fn utf16_len(&self) -> usize {
        utf16_len(self.as_str())
    }
}

/// Length of a string in UTF-16 code units.
pub fn utf16_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().map(char::len_utf16).sum()
    }
}

impl std::ops::Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Str {
        Str::new(s)
    }
}

impl From<String> for Str {
    fn from(s: String) -> Str {
        Str::new(s)
    }
}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Str) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str {
    fn cmp(&self, other: &Str) -> std::cmp::Ordering {
        if Rc::ptr_eq(&self.0, &other.0) {
            return std::cmp::Ordering::Equal;
        }
        cmp_utf16(self.as_str(), other.as_str())
    }
}

impl std::borrow::Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

/// [`Value::size`] of one node (a scalar, or a container without its children).
pub const NODE_SIZE: u64 = 16;

/// Sums sizes (wrapping: see [`Value::size`]).
fn sum_sizes(sizes: impl Iterator<Item = u64>) -> u64 {
    sizes.fold(0, u64::wrapping_add)
}

/// The cached depth of a container: the deepest child and how many children
/// have that depth, so removing one of several deepest children is O(1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Depth {
    max: u32,
    at_max: u32,
}

impl Depth {
    fn of(children: impl Iterator<Item = u32>) -> Depth {
        let mut d = Depth::default();
        for c in children {
            d.add(c);
        }
        d
    }

    #[inline]
    fn add(&mut self, d: u32) {
        if d > self.max || self.at_max == 0 {
            self.max = d;
            self.at_max = 1;
        } else if d == self.max {
            self.at_max += 1;
        }
    }

    /// Forgets a child of depth `d`; true when the maximum must be recomputed.
    #[inline]
    fn remove(&mut self, d: u32) -> bool {
        if d == self.max && self.at_max > 0 {
            self.at_max -= 1;
            return self.at_max == 0;
        }
        false
    }
}

/// A list value with its cached nesting depth and size.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct List {
    items: Vec<Value>,
    depth: Depth,
    /// Sum of the items' [`Value::size`] (exact, wrapping: see there).
    size: u64,
}

impl List {
    /// An empty list.
    pub fn new() -> List {
        List::default()
    }

    /// A list of the given items.
    pub fn from_vec(items: Vec<Value>) -> List {
        let depth = Depth::of(items.iter().map(Value::depth));
        let size = sum_sizes(items.iter().map(Value::size));
        List { items, depth, size }
    }

    /// The elements.
    #[inline]
    pub fn items(&self) -> &[Value] {
        &self.items
    }

    /// Consumes the list, giving its elements.
    pub fn into_vec(self) -> Vec<Value> {
        self.items
    }

    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Appends an element.
    pub fn push(&mut self, v: Value) {
        self.depth.add(v.depth());
        self.size = self.size.wrapping_add(v.size());
        self.items.push(v);
    }

    /// Replaces element `i` (which must exist).
    pub fn set(&mut self, i: usize, v: Value) {
        let nd = v.depth();
        let ns = v.size();
        let old = std::mem::replace(&mut self.items[i], v);
        self.size = self.size.wrapping_add(ns).wrapping_sub(old.size());
        self.depth.add(nd);
        if self.depth.remove(old.depth()) {
            self.depth = Depth::of(self.items.iter().map(Value::depth));
        }
    }

    /// Depth of the list value itself (1 + deepest element).
    pub fn depth(&self) -> u32 {
        self.depth.max + 1
    }

    /// [`Value::size`] of the list value itself.
    pub fn size(&self) -> u64 {
        NODE_SIZE.wrapping_add(self.size)
    }
}

/// The hasher of the map table: SipHash-1-3 with fixed (zero) keys, so the
/// table is deterministic. It only finds keys; the table's own order is
/// never observed (see [`Map`]).
type TableHasher = std::hash::BuildHasherDefault<std::hash::DefaultHasher>;

/// The entries of a map in insertion order (with swap-removal), hashed.
/// `Value`'s equality is the value order's equality (`order.rs`) and its
/// `Hash` is derived from the same structure, so lookups agree with the order.
type MapTable = indexmap::IndexMap<Value, Value, TableHasher>;

/// A map value (keys in [`Value`] order) with its cached nesting depth and size.
///
/// The entries live in a hash table (lookups and updates hash once, with no
/// key comparisons along a search path). The observable order, ascending
/// keys, is materialised only when the entries are read in order
/// ([`Map::entries`]): the positions of the table's entries in key order are
/// cached until the next change of the key set. After appends the cached
/// positions are kept as a sorted prefix, so reading again sorts only the
/// new keys and merges them in.
#[derive(Clone, Default)]
pub struct Map {
    table: MapTable,
    /// Positions in `table` in ascending key order, while valid.
    order: OnceCell<Box<[usize]>>,
    /// Positions `0..sorted.len()` of `table` in ascending key order (the
    /// entries that were there at the last ordered read, fixed up after
    /// removals when that was cheap), or empty.
    sorted: Vec<usize>,
    depth: Depth,
    /// Sum of the keys' and values' [`Value::size`].
    size: u64,
}

impl PartialEq for Map {
    fn eq(&self, other: &Map) -> bool {
        // Same key set with equal values (independent of the table order).
        self.table == other.table
    }
}

impl Eq for Map {}

impl std::hash::Hash for Map {
    /// Independent of the table order, as equality is: the entries' hashes
    /// are summed.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        use std::hash::BuildHasher;
        let sum = self.table.iter().fold(0u64, |acc, e| {
            acc.wrapping_add(TableHasher::default().hash_one(e))
        });
        self.table.len().hash(state);
        sum.hash(state);
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("entries", &self.entries())
            .field("depth", &self.depth)
            .field("size", &self.size)
            .finish()
    }
}

impl Map {
    /// An empty map.
    pub fn new() -> Map {
        Map::default()
    }

    /// The entries in ascending key order.
    ///
    /// The first call after the key set changed sorts the keys (only those
    /// added since the last call, when nothing was removed in between).
    pub fn entries(&self) -> Entries<'_> {
        let order = self.order.get_or_init(|| self.sorted_positions());
        Entries {
            table: &self.table,
            order,
        }
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Looks a key up.
    #[inline]
    pub fn get(&self, k: &Value) -> Option<&Value> {
        self.table.get(k)
    }

    /// Inserts or replaces.
    pub fn insert(&mut self, k: Value, v: Value) {
        self.insert_within(k, v, usize::MAX);
    }

    /// Inserts or replaces, unless `k` is new and the map already has
    /// `max_len` entries: then nothing changes and the answer is false.
    /// Hashes `k` once (`MAP_SET` with its `maxMapSize` check).
    pub fn insert_within(&mut self, k: Value, v: Value, max_len: usize) -> bool {
        use indexmap::map::Entry;
        let kd = k.depth();
        let (ks, vs) = (k.size(), v.size());
        let vd = v.depth();
        match self.table.entry(k) {
            // Replaced in place (an existing, equal, so equally sized key is
            // kept): positions are unchanged, so is the order.
            Entry::Occupied(mut e) => {
                let old = e.insert(v);
                self.depth.add(kd.max(vd));
                self.size = self.size.wrapping_add(vs).wrapping_sub(old.size());
                if self.depth.remove(kd.max(old.depth())) {
                    self.recompute();
                }
            }
            Entry::Vacant(e) => {
                if e.index() >= max_len {
                    return false;
                }
                e.insert(v);
                self.depth.add(kd.max(vd));
                self.size = self.size.wrapping_add(ks).wrapping_add(vs);
                // Appended: the old order stays valid as a sorted prefix.
                if let Some(order) = self.order.take() {
                    self.sorted = order.into_vec();
                }
            }
        }
        true
    }

    /// Removes a key.
    pub fn remove(&mut self, k: &Value) -> Option<Value> {
        let (i, k, old) = self.table.swap_remove_full(k)?;
        // The entry that was last (position `last`) now sits at `i`.
        let last = self.table.len();
        if let Some(order) = self.order.take() {
            // One linear pass (no key comparisons) keeps the order, as
            // reading it would cost as much.
            let mut order = order.into_vec();
            order.retain(|&p| p != i);
            if let Some(p) = order.iter_mut().find(|p| **p == last) {
                *p = i;
            }
            self.sorted = order;
        } else if i < self.sorted.len() {
            // The moved entry is unsorted, or the prefix lost an entry.
            self.sorted = Vec::new();
        }
        self.size = self.size.wrapping_sub(k.size()).wrapping_sub(old.size());
        if self.depth.remove(k.depth().max(old.depth())) {
            self.recompute();
        }
        Some(old)
    }

    /// The positions of `table` in ascending key order: the sorted prefix
    /// `self.sorted` merged with the sorted rest.
    fn sorted_positions(&self) -> Box<[usize]> {
        let table = &self.table;
        let key = |p: usize| table.get_index(p).expect("position in table").0;
        let (n, m) = (table.len(), self.sorted.len());
        debug_assert!(m <= n, "sorted prefix longer than the table");
        let m = m.min(n);
        let mut rest: Vec<usize> = (m..n).collect();
        // Keys are distinct, so an unstable sort is deterministic.
        rest.sort_unstable_by(|&a, &b| key(a).cmp(key(b)));
        if m == 0 {
            return rest.into_boxed_slice();
        }
        let mut out = Vec::with_capacity(n);
        let mut prefix = &self.sorted[..m];
        for p in rest {
            let kp = key(p);
            let at = prefix.partition_point(|&q| key(q) < kp);
            out.extend_from_slice(&prefix[..at]);
            out.push(p);
            prefix = &prefix[at..];
        }
        out.extend_from_slice(prefix);
        out.into_boxed_slice()
    }

    fn recompute(&mut self) {
        self.depth = Depth::of(self.table.iter().map(|(k, v)| k.depth().max(v.depth())));
    }

    /// Depth of the map value itself.
    pub fn depth(&self) -> u32 {
        self.depth.max + 1
    }

    /// [`Value::size`] of the map value itself.
    pub fn size(&self) -> u64 {
        NODE_SIZE.wrapping_add(self.size)
    }
}

/// The entries of a [`Map`] in ascending key order (see [`Map::entries`]).
#[derive(Clone, Copy)]
pub struct Entries<'a> {
    table: &'a MapTable,
    order: &'a [usize],
}

impl<'a> Entries<'a> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The entries in ascending key order.
    pub fn iter(&self) -> EntriesIter<'a> {
        EntriesIter {
            table: self.table,
            order: self.order.iter(),
        }
    }

    /// The keys in ascending order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &'a Value> + ExactSizeIterator + 'a {
        self.iter().map(|(k, _)| k)
    }

    /// The values in ascending key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &'a Value> + ExactSizeIterator + 'a {
        self.iter().map(|(_, v)| v)
    }
}

impl fmt::Debug for Entries<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for Entries<'a> {
    type Item = (&'a Value, &'a Value);
    type IntoIter = EntriesIter<'a>;
    fn into_iter(self) -> EntriesIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &Entries<'a> {
    type Item = (&'a Value, &'a Value);
    type IntoIter = EntriesIter<'a>;
    fn into_iter(self) -> EntriesIter<'a> {
        self.iter()
    }
}

/// Iterator over a map's entries in ascending key order.
#[derive(Clone)]
pub struct EntriesIter<'a> {
    table: &'a MapTable,
    order: std::slice::Iter<'a, usize>,
}

impl<'a> EntriesIter<'a> {
    fn at(&self, p: usize) -> (&'a Value, &'a Value) {
        self.table.get_index(p).expect("position in table")
    }
}

impl<'a> Iterator for EntriesIter<'a> {
    type Item = (&'a Value, &'a Value);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let p = *self.order.next()?;
        Some(self.at(p))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.order.size_hint()
    }
}

impl DoubleEndedIterator for EntriesIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let p = *self.order.next_back()?;
        Some(self.at(p))
    }
}

impl ExactSizeIterator for EntriesIter<'_> {}

impl FromIterator<(Value, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (Value, Value)>>(iter: I) -> Map {
        let mut m = Map::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

/// A state-machine instance value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MachineInstance {
    /// The definition's id.
    pub machine_id: Str,
    /// `mi<steps>` at creation.
    pub instance_id: Str,
    /// The current state name.
    pub current_state: Str,
    /// The instance data.
    pub data: Record,
    /// Starts at 1, +1 per transition.
    pub version: i32,
    /// Hash chain of transitions (`""` initially).
    pub history_hash: Str,
}

/// A tagged pair used by variants, events, effect intents and proof values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tagged {
    /// The tag / type / label.
    pub tag: Str,
    /// The payload / value.
    pub value: Value,
}

/// A FinVM value. Constructor order is the reference's declaration order,
/// which is also the cross-constructor ordering.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Value {
    /// `null`.
    #[default]
    Unit,
    /// A boolean.
    Bool(bool),
    /// An arbitrary-precision integer.
    Int(Int),
    /// A fixed-point decimal.
    Fixed(Rc<Fixed>),
    /// A rational number.
    Rational(Rc<Rational>),
    /// A string.
    Str(Str),
    /// A byte string.
    Bytes(Rc<Vec<u8>>),
    /// A symbol.
    Symbol(Str),
    /// A list.
    List(Rc<List>),
    /// A map with arbitrary value keys.
    Map(Rc<Map>),
    /// A record with string keys.
    Record(Rc<Record>),
    /// A variant: tag and payload.
    Variant(Rc<Tagged>),
    /// An option: `None` or `Some(v)`.
    Option(Option<Rc<Value>>),
    /// A result: `Err(e)` (Left) or `Ok(v)` (Right).
    Result(Rc<Result<Value, Value>>),
    /// A function reference.
    FunctionRef(Str),
    /// A local process id.
    Process(Str),
    /// A remote process: node and pid.
    RemoteProcess(Rc<(Str, Str)>),
    /// A state-machine instance.
    Machine(Rc<MachineInstance>),
    /// An event: type and payload.
    Event(Rc<Tagged>),
    /// An effect intent: type and payload.
    Effect(Rc<Tagged>),
    /// A proof value: label and value.
    Proof(Rc<Tagged>),
}

impl Value {
    /// An integer value.
    #[inline]
    pub fn int(i: impl Into<Int>) -> Value {
        Value::Int(i.into())
    }

    /// A string value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(Str::new(s))
    }

    /// A fixed-point value.
    pub fn fixed(value: Int, scale: i32) -> Value {
        Value::Fixed(Rc::new(Fixed::new(value, scale)))
    }

    /// A rational value (as given, not normalised).
    pub fn rational(r: Rational) -> Value {
        Value::Rational(Rc::new(r))
    }

    /// A list value.
    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Rc::new(List::from_vec(items)))
    }

    /// A record value.
    pub fn record(r: Record) -> Value {
        Value::Record(Rc::new(r))
    }

    /// A map value.
    pub fn map(m: Map) -> Value {
        Value::Map(Rc::new(m))
    }

    /// A variant value.
    pub fn variant(tag: impl Into<Str>, payload: Value) -> Value {
        Value::Variant(Rc::new(Tagged {
            tag: tag.into(),
            value: payload,
        }))
    }

    /// `Some(v)`.
    pub fn some(v: Value) -> Value {
        Value::Option(Some(Rc::new(v)))
    }

    /// `None`.
    pub fn none() -> Value {
        Value::Option(None)
    }

    /// An event value.
    pub fn event(ty: impl Into<Str>, payload: Value) -> Value {
        Value::Event(Rc::new(Tagged {
            tag: ty.into(),
            value: payload,
        }))
    }

    /// An effect intent value.
    pub fn effect(ty: impl Into<Str>, payload: Value) -> Value {
        Value::Effect(Rc::new(Tagged {
            tag: ty.into(),
            value: payload,
        }))
    }

    /// Nesting depth: 0 for scalars, 1 + the deepest child for containers.
    #[inline]
    pub fn depth(&self) -> u32 {
        match self {
            Value::List(l) => l.depth(),
            Value::Map(m) => m.depth(),
            Value::Record(r) => r.depth(),
            Value::Unit
            | Value::Bool(_)
            | Value::Int(_)
            | Value::Fixed(_)
            | Value::Rational(_)
            | Value::Str(_)
            | Value::Bytes(_)
            | Value::Symbol(_)
            | Value::FunctionRef(_)
            | Value::Process(_)
            | Value::RemoteProcess(_)
            | Value::Option(None) => 0,
            _ => self.wrapper_depth(),
        }
    }

    /// [`Value::depth`] of the constructors that wrap one value.
    fn wrapper_depth(&self) -> u32 {
        match self {
            Value::Variant(t) | Value::Event(t) | Value::Effect(t) | Value::Proof(t) => {
                1 + t.value.depth()
            }
            Value::Option(Some(v)) => 1 + v.depth(),
            Value::Result(r) => {
                1 + match &**r {
                    Ok(v) | Err(v) => v.depth(),
                }
            }
            Value::Machine(m) => 1 + m.data.depth(),
            _ => 0,
        }
    }

    /// The size of the value as its encoders see it, in units of roughly one
    /// byte of its JSON text: 16 per node, plus the bytes of strings, names
    /// and tags, 4 per byte of a byte string and one per 3 bits of a big
    /// integer. A part shared by several places counts once per place, as an
    /// encoder writes it once per place, so the size bounds the work of
    /// encoding, hashing, showing and comparing the value (`maxValueSize`,
    /// regression `regression_interp_shared_list_doubling`). O(1) for
    /// lists, maps and records (cached), O(depth) for other wrappers.
    ///
    /// Sums wrap instead of saturating so a cached size is exact, whatever
    /// order a container was built in; the VM checks every value it builds,
    /// so no reachable size comes near 2^64.
    #[inline]
    pub fn size(&self) -> u64 {
        match self {
            Value::Unit | Value::Bool(_) | Value::Int(Int::Small(_)) | Value::Option(None) => {
                NODE_SIZE
            }
            Value::Str(s) | Value::Symbol(s) | Value::FunctionRef(s) | Value::Process(s) => {
                NODE_SIZE.wrapping_add(s.len() as u64)
            }
            Value::List(l) => l.size(),
            Value::Map(m) => m.size(),
            Value::Record(r) => r.size(),
            _ => self.other_size(),
        }
    }

    /// [`Value::size`] of the other constructors.
    fn other_size(&self) -> u64 {
        let big = |i: &Int| match i {
            Int::Small(_) => 0,
            Int::Big(b) => b.as_sign_words().1.len() as u64 * 22,
        };
        let text = |s: &str| NODE_SIZE.wrapping_add(s.len() as u64);
        match self {
            Value::Unit | Value::Bool(_) => NODE_SIZE,
            Value::Int(i) => NODE_SIZE.wrapping_add(big(i)),
            Value::Fixed(f) => NODE_SIZE.wrapping_add(8).wrapping_add(big(&f.value)),
            Value::Rational(r) => NODE_SIZE
                .wrapping_add(big(&r.numerator))
                .wrapping_add(big(&r.denominator)),
            Value::Str(s) | Value::Symbol(s) | Value::FunctionRef(s) | Value::Process(s) => text(s),
            Value::Bytes(b) => NODE_SIZE.wrapping_add(4 * b.len() as u64),
            Value::List(l) => l.size(),
            Value::Map(m) => m.size(),
            Value::Record(r) => r.size(),
            Value::Variant(t) | Value::Event(t) | Value::Effect(t) | Value::Proof(t) => {
                text(&t.tag).wrapping_add(t.value.size())
            }
            Value::Option(None) => NODE_SIZE,
            Value::Option(Some(v)) => NODE_SIZE.wrapping_add(v.size()),
            Value::Result(r) => NODE_SIZE.wrapping_add(match &**r {
                Ok(v) | Err(v) => v.size(),
            }),
            Value::RemoteProcess(rp) => text(&rp.0).wrapping_add(rp.1.len() as u64),
            Value::Machine(m) => text(&m.machine_id)
                .wrapping_add(m.instance_id.len() as u64)
                .wrapping_add(m.current_state.len() as u64)
                .wrapping_add(m.history_hash.len() as u64)
                .wrapping_add(m.data.size()),
        }
    }

    /// Constructor rank (declaration order), used for cross-constructor ordering.
    pub fn rank(&self) -> u8 {
        match self {
            Value::Unit => 0,
            Value::Bool(_) => 1,
            Value::Int(_) => 2,
            Value::Fixed(_) => 3,
            Value::Rational(_) => 4,
            Value::Str(_) => 5,
            Value::Bytes(_) => 6,
            Value::Symbol(_) => 7,
            Value::List(_) => 8,
            Value::Map(_) => 9,
            Value::Record(_) => 10,
            Value::Variant(_) => 11,
            Value::Option(_) => 12,
            Value::Result(_) => 13,
            Value::FunctionRef(_) => 14,
            Value::Process(_) => 15,
            Value::RemoteProcess(_) => 16,
            Value::Machine(_) => 17,
            Value::Event(_) => 18,
            Value::Effect(_) => 19,
            Value::Proof(_) => 20,
        }
    }

    /// The kind name used in input-validation messages
    /// (`Unit`, `Bool`, `Int`, `String`, `Bytes`, or `other`).
    pub fn input_kind(&self) -> &'static str {
        match self {
            Value::Unit => "Unit",
            Value::Bool(_) => "Bool",
            Value::Int(_) => "Int",
            Value::Str(_) => "String",
            Value::Bytes(_) => "Bytes",
            _ => "other",
        }
    }

    /// The string payload of a `Str` value.
    pub fn as_str(&self) -> Option<&Str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer payload of an `Int` value.
    pub fn as_int(&self) -> Option<&Int> {
        match self {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The record payload of a `Record` value.
    pub fn as_record(&self) -> Option<&Record> {
        match self {
            Value::Record(r) => Some(r),
            _ => None,
        }
    }
}

#[cfg(test)]
// A `Map` key's only interior mutability is its order cache, which never
// changes its equality, hash or order.
#[allow(clippy::mutable_key_type)]
mod tests {
    use super::*;
    use crate::num::Rational;
    use std::collections::BTreeMap;

    #[test]
    fn value_is_two_words() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
    }

    #[test]
    fn depth_is_cached_and_exact() {
        let inner = Value::list(vec![Value::int(1i64)]);
        let mut l = List::new();
        l.push(Value::int(0i64));
        assert_eq!(l.depth(), 1);
        l.push(inner.clone());
        assert_eq!(l.depth(), 2);
        l.set(1, Value::Unit);
        assert_eq!(l.depth(), 1);
        let mut r = Record::new();
        r.insert(Str::new("a"), inner);
        assert_eq!(r.depth(), 2);
        r.remove("a");
        assert_eq!(r.depth(), 1);
        assert_eq!(Value::some(Value::list(vec![])).depth(), 2);
    }

    use proptest::prelude::*;

    use super::order::tests::arb_edge_char as arb_char;

    fn arb_key() -> impl Strategy<Value = Value> {
        let text = prop::collection::vec(arb_char(), 0..4).prop_map(String::from_iter);
        let big = |n: i64| Int::parse_strict(&format!("{n}00000000000000000000")).unwrap();
        let leaf = prop_oneof![
            text.prop_map(Value::str),
            (-3i64..3).prop_map(Value::int),
            (-2i64..2).prop_map(move |n| Value::Int(big(n))),
            ((-3i64..3), (-1i32..2)).prop_map(|(v, s)| Value::fixed(Int::from(v), s)),
            ((-2i64..3), (-2i64..3))
                .prop_map(|(n, d)| Value::rational(Rational::new(Int::from(n), Int::from(d)))),
            Just(Value::Unit),
            any::<bool>().prop_map(Value::Bool),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::list),
                prop::collection::vec((inner.clone(), inner), 0..3)
                    .prop_map(|es| Value::map(es.into_iter().collect())),
            ]
        })
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(Value, i64),
        Remove(Value),
        Read,
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (arb_key(), any::<i64>()).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => arb_key().prop_map(Op::Remove),
            1 => Just(Op::Read),
        ]
    }

    /// The map must behave as a `BTreeMap` under the value order does.
    fn check_against(m: &Map, reference: &BTreeMap<Value, Value>) {
        use std::hash::BuildHasher;
        assert_eq!(m.len(), reference.len());
        let got: Vec<(&Value, &Value)> = m.entries().iter().collect();
        let want: Vec<(&Value, &Value)> = reference.iter().collect();
        assert_eq!(got, want);
        let back: Vec<(&Value, &Value)> = m.entries().iter().rev().collect();
        assert_eq!(back, want.iter().rev().copied().collect::<Vec<_>>());
        for (k, v) in reference {
            assert_eq!(m.get(k), Some(v));
        }
        let rebuilt: Map = reference
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(&rebuilt, m);
        assert_eq!(
            Value::map(rebuilt.clone()).cmp(&Value::map(m.clone())),
            std::cmp::Ordering::Equal
        );
        let h = |x: &Map| TableHasher::default().hash_one(x);
        assert_eq!(h(&rebuilt), h(m));
        assert_eq!(m.size(), rebuilt.size());
        assert_eq!(m.depth(), rebuilt.depth());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Hash lookups and the lazily sorted order agree with a `BTreeMap`
        /// (the straightforward ordered map) on random keys of every kind,
        /// strings with characters around U+E000 and above the BMP included,
        /// through inserts, removals and reads in any interleaving.
        #[test]
        fn map_agrees_with_ordered_map(ops in prop::collection::vec(arb_op(), 0..60)) {
            use std::hash::BuildHasher;
            let mut m = Map::new();
            let mut reference = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        m.insert(k.clone(), Value::int(v));
                        reference.insert(k, Value::int(v));
                    }
                    Op::Remove(k) => {
                        prop_assert_eq!(m.remove(&k), reference.remove(&k));
                    }
                    Op::Read => check_against(&m, &reference),
                }
                for (k, v) in &reference {
                    prop_assert_eq!(m.get(k), Some(v));
                }
            }
            check_against(&m, &reference);
            let _ = TableHasher::default().hash_one(&m);
        }

        /// Equal keys hash alike and unequal keys compare unequal: the
        /// table's equality is the value order's.
        #[test]
        fn key_equality_is_order_equality(a in arb_key(), b in arb_key()) {
            use std::hash::BuildHasher;
            let eq = a.cmp(&b) == std::cmp::Ordering::Equal;
            prop_assert_eq!(eq, a == b);
            if eq {
                prop_assert_eq!(
                    TableHasher::default().hash_one(&a),
                    TableHasher::default().hash_one(&b)
                );
            }
        }
    }

    #[test]
    fn insert_within_stops_only_new_keys_at_the_limit() {
        let mut m = Map::new();
        assert!(m.insert_within(Value::int(1i64), Value::Unit, 2));
        assert!(m.insert_within(Value::int(2i64), Value::Unit, 2));
        let before = m.clone();
        assert!(!m.insert_within(Value::int(3i64), Value::Unit, 2));
        assert_eq!(m, before);
        assert_eq!(m.size(), before.size());
        assert!(m.insert_within(Value::int(2i64), Value::str("x"), 2));
        assert_eq!(m.get(&Value::int(2i64)), Some(&Value::str("x")));
        assert_eq!(m.size(), NODE_SIZE + 4 * NODE_SIZE + 1);
        assert!(!Map::new().insert_within(Value::Unit, Value::Unit, 0));
    }

    #[test]
    fn map_order_survives_appends_and_removals() {
        let mut m = Map::new();
        let mut reference = BTreeMap::new();
        for i in 0..200i64 {
            let k = Value::str(format!("k{i}"));
            m.insert(k.clone(), Value::int(i));
            reference.insert(k, Value::int(i));
            if i % 7 == 0 {
                check_against(&m, &reference);
            }
            if i % 5 == 0 {
                let k = Value::str(format!("k{}", i / 2));
                assert_eq!(m.remove(&k), reference.remove(&k));
            }
        }
        check_against(&m, &reference);
        // Replacing a value keeps the order and the cached positions.
        m.insert(Value::str("k1"), Value::Unit);
        reference.insert(Value::str("k1"), Value::Unit);
        check_against(&m, &reference);
        // Remove after a read (fixed up in place), then remove the last entry.
        let last = m.entries().keys().next_back().cloned().unwrap();
        for k in [Value::str("k3"), last] {
            assert_eq!(m.remove(&k), reference.remove(&k));
            check_against(&m, &reference);
        }
        assert_eq!(
            format!("{:?}", Map::from_iter([(Value::int(2i64), Value::Unit), (Value::int(1i64), Value::Unit)])),
            "Map { entries: {Int(1): Unit, Int(2): Unit}, depth: Depth { max: 0, at_max: 2 }, size: 64 }"
        );
    }
}
