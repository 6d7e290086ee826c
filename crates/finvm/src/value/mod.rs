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
pub mod show;

pub use order::cmp_utf16;

use crate::num::{Fixed, Int, Rational};
use std::collections::BTreeMap;
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

/// True when comparing `k` with any string by bytes gives the same answer as
/// comparing by UTF-16 code units: `k` has no character at or above U+E000.
/// Lookups of such keys may use `str`'s order (the `Borrow<str>` of [`Str`]).
#[inline]
pub fn byte_order_is_utf16_order(k: &str) -> bool {
    k.bytes().all(|b| b < 0xEE)
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

/// A map value (keys in [`Value`] order) with its cached nesting depth and size.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Map {
    entries: BTreeMap<Value, Value>,
    depth: Depth,
    /// Sum of the keys' and values' [`Value::size`].
    size: u64,
}

impl Map {
    /// An empty map.
    pub fn new() -> Map {
        Map::default()
    }

    /// The entries in ascending key order.
    pub fn entries(&self) -> &BTreeMap<Value, Value> {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Looks a key up.
    pub fn get(&self, k: &Value) -> Option<&Value> {
        self.entries.get(k)
    }

    /// Inserts or replaces.
    pub fn insert(&mut self, k: Value, v: Value) {
        let kd = k.depth();
        let (ks, vs) = (k.size(), v.size());
        self.depth.add(kd.max(v.depth()));
        // An existing (equal, so equally sized) key is kept.
        self.size = self.size.wrapping_add(ks).wrapping_add(vs);
        if let Some(old) = self.entries.insert(k, v) {
            self.size = self.size.wrapping_sub(ks).wrapping_sub(old.size());
            if self.depth.remove(kd.max(old.depth())) {
                self.recompute();
            }
        }
    }

    /// Removes a key.
    pub fn remove(&mut self, k: &Value) -> Option<Value> {
        let old = self.entries.remove(k)?;
        self.size = self.size.wrapping_sub(k.size()).wrapping_sub(old.size());
        if self.depth.remove(k.depth().max(old.depth())) {
            self.recompute();
        }
        Some(old)
    }

    fn recompute(&mut self) {
        self.depth = Depth::of(self.entries.iter().map(|(k, v)| k.depth().max(v.depth())));
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

impl FromIterator<(Value, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (Value, Value)>>(iter: I) -> Map {
        let mut m = Map::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

/// A record value (fields in UTF-16 order) with its cached nesting depth and size.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Record {
    fields: BTreeMap<Str, Value>,
    depth: Depth,
    /// Sum of the field names' lengths and the values' [`Value::size`].
    size: u64,
}

impl Record {
    /// An empty record.
    pub fn new() -> Record {
        Record::default()
    }

    /// The fields in ascending name order.
    pub fn fields(&self) -> &BTreeMap<Str, Value> {
        &self.fields
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Looks a field up.
    pub fn get(&self, k: &str) -> Option<&Value> {
        if byte_order_is_utf16_order(k) {
            self.fields.get(k)
        } else {
            self.fields.get(&Str::new(k))
        }
    }

    /// Inserts or replaces a field.
    pub fn insert(&mut self, k: Str, v: Value) {
        self.depth.add(v.depth());
        let ks = k.len() as u64;
        self.size = self.size.wrapping_add(ks).wrapping_add(v.size());
        if let Some(old) = self.fields.insert(k, v) {
            self.size = self.size.wrapping_sub(ks).wrapping_sub(old.size());
            if self.depth.remove(old.depth()) {
                self.recompute();
            }
        }
    }

    /// Removes a field.
    pub fn remove(&mut self, k: &str) -> Option<Value> {
        let old = if byte_order_is_utf16_order(k) {
            self.fields.remove(k)?
        } else {
            self.fields.remove(&Str::new(k))?
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

    fn recompute(&mut self) {
        self.depth = Depth::of(self.fields.values().map(Value::depth));
    }

    /// Depth of the record value itself.
    pub fn depth(&self) -> u32 {
        self.depth.max + 1
    }

    /// [`Value::size`] of the record value itself.
    pub fn size(&self) -> u64 {
        NODE_SIZE.wrapping_add(self.size)
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
    pub fn depth(&self) -> u32 {
        match self {
            Value::List(l) => l.depth(),
            Value::Map(m) => m.depth(),
            Value::Record(r) => r.depth(),
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
    pub fn size(&self) -> u64 {
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
mod tests {
    use super::*;

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
}
