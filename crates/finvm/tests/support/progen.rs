//! Random FinVM programs that are valid by construction, drawn from a stream
//! of choices.
//!
//! Shared by the property tests (`tests/properties.rs`, choices from a
//! proptest byte vector) and the fuzz targets (`fuzz/`, choices from
//! libFuzzer input through `arbitrary::Unstructured`), so both explore the
//! same program space. Every program decodes and validates: registers are
//! in range, jumps name labels of their own function, calls name existing
//! functions with their exact arity, constant indices exist. Limits are
//! small (`maxSteps` ≤ 10,000, short lists and strings, few bits), so every
//! run is bounded.
//!
//! Instructions are drawn over **every** opcode of [`Opcode::ALL`] (operands
//! chosen by the opcode table's kinds and roles), mixed with short templates
//! that make the interesting paths likely: an effect awaited with a keyed
//! record, a spawned worker that messages its parent, a receive, a loop.

// Each user compiles this file on its own and uses part of it.
#![allow(dead_code)]

use finvm::builtins::Builtin;
use finvm::opcodes::{ArgKind, Opcode};
use serde_json::{json, Map, Value as J};

/// A stream of choices. Exhausted sources answer 0 / the low bound.
pub trait Source {
    /// A number in `0..n` (`n` ≥ 1).
    fn below(&mut self, n: usize) -> usize;

    /// A fair-ish coin.
    fn coin(&mut self) -> bool {
        self.below(2) == 1
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as usize) as i64
    }

    /// One element of a non-empty slice.
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Choices read from a byte slice (two bytes per choice); 0 once exhausted.
pub struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bytes<'a> {
    /// Reads choices from `data`.
    pub fn new(data: &'a [u8]) -> Bytes<'a> {
        Bytes { data, pos: 0 }
    }
}

impl Source for Bytes<'_> {
    fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        let mut x: usize = 0;
        for _ in 0..2 {
            x = (x << 8) | usize::from(self.data.get(self.pos).copied().unwrap_or(0));
            self.pos += 1;
        }
        x % n
    }
}

/// Choices from a seeded SplitMix64 (for long deterministic sweeps).
pub struct Seeded(pub u64);

impl Source for Seeded {
    fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z % n as u64) as usize
    }
}

/// What kind of program to draw.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Most instructions this many per function (templates may add a few).
    pub max_body: usize,
    /// Upper bound of `maxSteps`.
    pub max_steps: i64,
    /// How often (per 16) an instruction slot becomes a template.
    pub template_weight: usize,
}

impl Default for Shape {
    fn default() -> Shape {
        Shape {
            max_body: 40,
            max_steps: 10_000,
            template_weight: 4,
        }
    }
}

/// A drawn program: its JSON document and a few facts about it.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The program document.
    pub doc: J,
    /// Effect keys the program may await (for host replies).
    pub keys: Vec<String>,
}

impl Generated {
    /// The program as compact JSON text.
    pub fn text(&self) -> String {
        self.doc.to_string()
    }
}

const STRINGS: &[&str] = &[
    "",
    "a",
    "b",
    "key",
    "k1",
    "k2",
    "x.y",
    "main",
    "p0",
    "p1",
    "EffectReply",
    "DOWN",
    "EXIT",
    "héllo",
    "\u{1F600}",
    "\u{FFFF}",
    "42",
    "-7",
    "  pad  ",
    "a,b,c",
    "__finvm.db",
];
const FIELDS: &[&str] = &["a", "b", "key", "n", "", "payload", "value", "x"];
const STATE_KEYS: &[&str] = &["a", "b", "c", "count", "", "__finvm.db", "__finvm.cache"];
const INPUT_KEYS: &[&str] = &["in", "n", "missing"];
const TAGS: &[&str] = &["Some", "EffectReply", "DOWN", "EXIT", "t", ""];
const TYPES: &[&str] = &["svc", "log", "http.get", ""];
const NODES: &[&str] = &["vmA", "vmB", ""];
const EVENTS: &[&str] = &["E0", "E1", "E2"];
const STATES: &[&str] = &["s0", "s1", "s2"];
const ROUNDING: &[&str] = &[
    "RoundDown",
    "RoundUp",
    "RoundHalfEven",
    "RoundTowardZero",
    "RoundAwayFromZero",
];

/// Data, arithmetic and control opcodes, drawn as often as all the others.
const CORE_OPS: &[Opcode] = {
    use Opcode::*;
    &[
        Move,
        LoadConst,
        Add,
        Sub,
        Mul,
        Div,
        Mod,
        Lt,
        Eq,
        Compare,
        Min,
        ListNew,
        ListFrom,
        ListAppend,
        ListGet,
        ListLength,
        ListSet,
        ListSlice,
        MapNew,
        MapSet,
        MapGet,
        MapGetOpt,
        MapKeys,
        RecordNew,
        RecordSet,
        RecordGet,
        RecordGetOpt,
        VariantNew,
        VariantTag,
        VariantPayload,
        StateSet,
        StateGetOpt,
        CallBuiltin,
        Call,
        JumpIf,
        JumpIfFalse,
    ]
};

/// What the generator believes a register holds (straight-line guess,
/// used to pick operands that make an instruction likely to succeed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Unknown,
    Int,
    Bool,
    Str,
    List,
    Map,
    Record,
    Variant,
    Pid,
    Remote,
    Event,
    Effect,
    Machine,
}

/// The kind of a constant in the public codec.
fn const_kind(j: &J) -> Kind {
    match j {
        J::Number(_) => Kind::Int,
        J::Bool(_) => Kind::Bool,
        J::String(_) => Kind::Str,
        J::Array(_) => Kind::List,
        J::Object(o) if o.contains_key("int") => Kind::Int,
        J::Object(o) if o.contains_key("string") => Kind::Str,
        J::Object(o) if o.contains_key("list") => Kind::List,
        J::Object(o) if o.contains_key("map") => Kind::Map,
        J::Object(o) if o.contains_key("variant") => Kind::Variant,
        J::Object(o)
            if o.contains_key("fixed") || o.contains_key("rational") || o.contains_key("bool") =>
        {
            Kind::Unknown
        }
        J::Object(o) if o.contains_key("bytes") || o.contains_key("symbol") => Kind::Unknown,
        J::Object(_) => Kind::Record,
        J::Null => Kind::Unknown,
    }
}

/// The kind an operand of `op` in `role` should have.
fn wanted(op: Opcode, role: &str) -> Option<Kind> {
    use Opcode::*;
    let numeric = matches!(
        op,
        Add | Sub | Mul | Div | Mod | Neg | Abs | Min | Max | Clamp | Lt | Lte | Gt | Gte | Compare
    );
    Some(match role {
        "list" | "batch" => Kind::List,
        "map" => Kind::Map,
        "record" | "data" => Kind::Record,
        "variant" => Kind::Variant,
        "cond" => Kind::Bool,
        "event" => Kind::Event,
        "effect" => Kind::Effect,
        "instance" => Kind::Machine,
        "remote" => Kind::Remote,
        "pid" => Kind::Pid,
        "node" | "tag" | "ref" => Kind::Str,
        "index" | "start" | "end" => Kind::Int,
        "a" | "b" | "value" | "lo" | "hi" if numeric => Kind::Int,
        _ => return None,
    })
}

/// The kind of the value `op` writes to its `dst`.
fn result_kind(op: Opcode) -> Kind {
    use Opcode::*;
    match op {
        RecordNew | RecordSet | RecordRemove => Kind::Record,
        ListNew | ListFrom | ListSet | ListAppend | ListSlice | MapKeys | MapValues
        | RecordKeys | StateKeys | EventBatchNew | EffectBatchNew | EventBatchAppend
        | EffectBatchAppend | NodeKnown => Kind::List,
        MapNew | MapSet | MapRemove => Kind::Map,
        ListLength | MapSize | Compare | Add | Sub | Mul | Div | Mod | Neg | Abs => Kind::Int,
        Eq | Neq | Lt | Lte | Gt | Gte | MapHas | RecordHas | StateExists => Kind::Bool,
        VariantNew => Kind::Variant,
        VariantTag | NodeSelf | ProcStatus | NodeStatus | MachineState | ProcMonitor
        | NodeMonitor => Kind::Str,
        EventNew => Kind::Event,
        EffectNew => Kind::Effect,
        ProcSelf | ProcSpawn => Kind::Pid,
        RemotePidNew => Kind::Remote,
        MachineNew | MachineTransition => Kind::Machine,
        _ => Kind::Unknown,
    }
}

/// One function of the program being drawn.
struct Func {
    id: String,
    arity: usize,
    regs: usize,
}

struct Ctx<'s, S: Source> {
    src: &'s mut S,
    funcs: Vec<Func>,
    consts: Vec<J>,
    /// Constant indices holding effect keys.
    key_consts: Vec<(usize, String)>,
    shape: Shape,
    /// Guessed kinds of the current function's registers.
    kinds: Vec<Kind>,
}

/// A leaf or small nested value in the public codec, for constants, state
/// and input.
pub fn value<S: Source>(src: &mut S, depth: u32) -> J {
    let n = if depth == 0 { 12 } else { 17 };
    match src.below(n) {
        0 => J::Null,
        1 => json!(src.coin()),
        2 => json!(src.range(-3, 20)),
        3 => {
            json!({"int": src.pick(&["0", "1", "-1", "9223372036854775807", "-9223372036854775808",
            "123456789012345678901234567890", "-18446744073709551616"]).to_string()})
        }
        4 => {
            json!({"fixed": {"value": src.pick(&["0", "150", "-7", "100000000000000000000"]).to_string(),
            "scale": src.range(-2, 6)}})
        }
        5 => json!({"rational": {"numerator": src.pick(&["1", "-3", "0", "22"]).to_string(),
            "denominator": src.pick(&["1", "3", "-4", "7", "0"]).to_string()}}),
        6 | 7 => json!({"string": src.pick(STRINGS).to_string()}),
        8 => json!({"symbol": src.pick(&["BTC", "USD", ""]).to_string()}),
        9 => {
            let bytes: Vec<i64> = (0..src.below(5)).map(|_| src.range(0, 255)).collect();
            json!({ "bytes": bytes })
        }
        10 => json!({"variant": {"tag": src.pick(TAGS).to_string(), "payload": src.range(0, 3)}}),
        11 => json!(src.pick(STRINGS).to_string()),
        12 | 13 => J::Array((0..src.below(4)).map(|_| value(src, depth - 1)).collect()),
        14 => {
            let mut fields = Map::new();
            for _ in 0..src.below(4) {
                fields.insert(src.pick(FIELDS).to_string(), value(src, depth - 1));
            }
            json!({ "record": fields })
        }
        15 => {
            let entries: Vec<J> = (0..src.below(4))
                .map(|_| json!({"key": value(src, depth - 1), "value": value(src, depth - 1)}))
                .collect();
            json!({ "map": entries })
        }
        _ => {
            json!({"variant": {"tag": src.pick(TAGS).to_string(), "payload": value(src, depth - 1)}})
        }
    }
}

impl<S: Source> Ctx<'_, S> {
    fn reg(&mut self, f: usize) -> usize {
        self.src.below(self.funcs[f].regs)
    }

    /// A register, usually one believed to hold `want`.
    fn reg_of(&mut self, f: usize, want: Option<Kind>) -> usize {
        if let Some(k) = want {
            if self.src.below(8) != 0 {
                let have: Vec<usize> = (0..self.kinds.len())
                    .filter(|r| self.kinds[*r] == k)
                    .collect();
                if !have.is_empty() {
                    return *self.src.pick(&have);
                }
            }
        }
        self.reg(f)
    }

    fn note(&mut self, r: usize, k: Kind) {
        if let Some(x) = self.kinds.get_mut(r) {
            *x = k;
        }
    }

    fn regs(&mut self, f: usize, n: usize) -> Vec<usize> {
        (0..n).map(|_| self.reg(f)).collect()
    }

    fn string_const(&mut self, s: &str) -> usize {
        let j = json!({ "string": s });
        if let Some(i) = self.consts.iter().position(|c| *c == j) {
            return i;
        }
        self.consts.push(j);
        self.consts.len() - 1
    }

    fn int_const(&mut self, n: i64) -> usize {
        let j = json!(n);
        if let Some(i) = self.consts.iter().position(|c| *c == j) {
            return i;
        }
        self.consts.push(j);
        self.consts.len() - 1
    }

    /// A string operand for `role` of `op` (labels and functions are handled by the caller).
    fn string_operand(&mut self, op: Opcode, role: &str) -> String {
        let s = match (op, role) {
            (Opcode::LoadInput | Opcode::LoadContext, _) => self.src.pick(INPUT_KEYS),
            (Opcode::StateGet | Opcode::StateGetOpt | Opcode::StateSet, _)
            | (Opcode::StateDelete | Opcode::StateExists | Opcode::StateKeys, _) => {
                self.src.pick(STATE_KEYS)
            }
            (Opcode::VariantNew, _) => self.src.pick(TAGS),
            (Opcode::EventNew | Opcode::EffectNew, _) => self.src.pick(TYPES),
            (Opcode::MachineNew, _) => self.src.pick(&["m0", "m1", "nope"]),
            (Opcode::MachineTransition, _) => self.src.pick(EVENTS),
            (Opcode::CallBuiltin, _) => {
                if self.src.below(16) == 0 {
                    return self
                        .src
                        .pick(&["nope@1", "str.length@2", "x", "a@b@c"])
                        .to_string();
                }
                let b = self.src.pick(Builtin::ALL);
                return format!("{}@1", b.id());
            }
            _ => self.src.pick(FIELDS),
        };
        s.to_string()
    }

    /// One instruction of function `f` for opcode `op`; `labels` are the
    /// labels of `f`.
    fn instr(&mut self, f: usize, op: Opcode, labels: &[String]) -> J {
        let mut out = vec![json!(op.name())];
        match op {
            Opcode::Call | Opcode::ProcSpawn | Opcode::NodeSpawn => {
                let dst = self.reg(f);
                out.push(json!(dst));
                let k = if op == Opcode::ProcSpawn {
                    Kind::Pid
                } else {
                    Kind::Unknown
                };
                self.note(dst, k);
                if op == Opcode::NodeSpawn {
                    let node = self.reg(f);
                    out.push(json!(node));
                }
                let g = self.src.below(self.funcs.len());
                out.push(json!(self.funcs[g].id));
                let arity = self.funcs[g].arity;
                out.push(json!(self.regs(f, arity)));
                return J::Array(out);
            }
            Opcode::TailCall => {
                let g = self.src.below(self.funcs.len());
                out.push(json!(self.funcs[g].id));
                let arity = self.funcs[g].arity;
                out.push(json!(self.regs(f, arity)));
                return J::Array(out);
            }
            Opcode::Jump => {
                out.push(json!(self.src.pick(labels)));
                return J::Array(out);
            }
            Opcode::JumpIf | Opcode::JumpIfFalse => {
                let r = self.reg_of(f, Some(Kind::Bool));
                out.push(json!(r));
                out.push(json!(self.src.pick(labels)));
                return J::Array(out);
            }
            Opcode::InvariantCheck => {
                let name = if self.src.below(8) == 0 {
                    "nope".to_string()
                } else {
                    let g = self.src.below(self.funcs.len());
                    self.funcs[g].id.clone()
                };
                out.push(json!(name));
                return J::Array(out);
            }
            _ => {}
        }
        let mut dst = None;
        for (kind, role) in op.args().iter().zip(op.roles()) {
            out.push(match kind {
                ArgKind::R if *role == "dst" => {
                    let r = self.reg(f);
                    dst = Some(r);
                    json!(r)
                }
                ArgKind::R => {
                    let want = wanted(op, role);
                    json!(self.reg_of(f, want))
                }
                ArgKind::Rs => {
                    let n = self.src.below(4);
                    json!(self.regs(f, n))
                }
                ArgKind::B => json!(self.src.coin()),
                ArgKind::Rm => json!(self.src.pick(ROUNDING)),
                ArgKind::I => match *role {
                    "index" => json!(self.src.below(self.consts.len())),
                    "ticks" => json!(self.src.range(-1, 4)),
                    _ => json!(self.src.range(-2, 40)),
                },
                ArgKind::S => json!(self.string_operand(op, role)),
            });
        }
        if let Some(r) = dst {
            let k = match op {
                Opcode::LoadConst => {
                    const_kind(&self.consts[out[2].as_u64().unwrap_or(0) as usize])
                }
                Opcode::Move => self.kinds[out[2].as_u64().unwrap_or(0) as usize],
                _ => result_kind(op),
            };
            self.note(r, k);
        }
        J::Array(out)
    }

    /// A short instruction sequence that makes a meaningful path likely.
    fn template(&mut self, f: usize, labels: &[String], code: &mut Vec<J>) {
        let regs = self.funcs[f].regs;
        // Templates need three scratch registers.
        if regs < 3 {
            return;
        }
        let (a, b, c) = (self.reg(f), self.reg(f), self.reg(f));
        for r in [a, b, c] {
            self.note(r, Kind::Unknown);
        }
        match self.src.below(10) {
            9 => {
                // a while loop: the condition at the top, then `a += 1` (or
                // `-=`) and the back edge (the interpreter fuses these)
                let one = self.int_const(1);
                let n = self.src.range(-3, 12);
                let lim = self.int_const(n);
                let (top, end) = (format!("W{}", code.len()), format!("E{}", code.len()));
                let cmp = *self.src.pick(&["LT", "LTE", "GT", "GTE", "EQ", "NEQ"]);
                let branch = *self.src.pick(&["JUMP_IF", "JUMP_IF_FALSE"]);
                code.push(json!(["LOAD_CONST", c, lim]));
                code.push(json!(["LABEL", top]));
                if self.src.below(4) == 0 {
                    // not a fused condition: the back edge is a plain jump
                    code.push(json!(["MOVE", c, c]));
                }
                code.extend([json!([cmp, b, a, c]), json!([branch, b, end])]);
                if self.src.coin() {
                    code.push(json!(["LOAD_CONST", b, one]));
                    code.push(json!([*self.src.pick(&["ADD", "ADD", "SUB"]), a, a, b]));
                }
                code.push(json!(["JUMP", top]));
                code.push(json!(["LABEL", end]));
            }
            0 | 1 => {
                // await an effect with a keyed record, then take the reply
                let (ki, key) = if !self.key_consts.is_empty() && self.src.coin() {
                    self.src.pick(&self.key_consts.clone()).clone()
                } else {
                    let key = format!("k{}", self.key_consts.len());
                    let i = self.string_const(&key);
                    self.key_consts.push((i, key.clone()));
                    (i, key)
                };
                let _ = key;
                code.extend([
                    json!(["LOAD_CONST", b, ki]),
                    json!(["RECORD_NEW", a]),
                    json!(["RECORD_SET", a, a, "key", b]),
                    json!(["EFFECT_NEW", c, self.src.pick(TYPES), a]),
                    json!(["EFFECT_AWAIT", c]),
                ]);
                if self.src.coin() {
                    let t = self.string_const("EffectReply");
                    code.push(json!(["LOAD_CONST", b, t]));
                    code.push(json!(["PROC_RECEIVE_MATCH", a, b]));
                }
            }
            2 => {
                // spawn a worker with our pid
                let g = self.src.below(self.funcs.len());
                let arity = self.funcs[g].arity;
                let mut args = vec![a];
                args.extend(self.regs(f, arity.saturating_sub(1)));
                args.truncate(arity);
                code.push(json!(["PROC_SELF", a]));
                code.push(json!(["PROC_SPAWN", b, self.funcs[g].id, args]));
                if self.src.coin() {
                    code.push(json!(["PROC_MONITOR", c, b]));
                }
                if self.src.coin() {
                    code.push(json!(["PROC_JOIN", c, b]));
                }
            }
            3 => {
                // message the pid in register 0 (a worker's parent), or self
                if self.src.coin() {
                    code.push(json!(["PROC_SELF", a]));
                    code.push(json!(["PROC_SEND", a, b]));
                } else {
                    code.push(json!(["PROC_SEND", 0, b]));
                }
            }
            4 => code.push(json!([
                *self.src.pick(&["PROC_RECEIVE", "PROC_RECEIVE_OPT"]),
                a
            ])),
            5 => {
                // a counted loop back to a label
                let one = self.int_const(1);
                let n = self.src.range(0, 30);
                let lim = self.int_const(n);
                let l = self.src.pick(labels).clone();
                code.extend([
                    json!(["LOAD_CONST", c, one]),
                    json!(["ADD", a, a, c]),
                    json!(["LOAD_CONST", c, lim]),
                    json!(["LT", b, a, c]),
                    json!(["JUMP_IF", b, l]),
                ]);
            }
            6 => {
                // grow a value: append, concat, square
                let op = *self
                    .src
                    .pick(&["LIST_APPEND", "LIST_APPEND_SELF", "ADD", "MUL"]);
                if op == "LIST_APPEND_SELF" {
                    // in place: the list register is also the destination
                    code.push(json!(["LIST_APPEND", a, a, c]));
                    code.push(json!(["LIST_APPEND", a, a, b]));
                } else {
                    code.push(json!([op, a, b, c]));
                }
            }
            7 => {
                // a state machine instance and a transition
                let m = *self.src.pick(&["m0", "m1"]);
                code.push(json!(["RECORD_NEW", a]));
                code.push(json!(["MACHINE_NEW", b, m, a]));
                code.push(json!(["MACHINE_TRANSITION", b, b, self.src.pick(EVENTS)]));
            }
            _ => {
                // emit an event and request an effect
                code.push(json!(["EVENT_NEW", a, self.src.pick(TYPES), b]));
                code.push(json!(["EVENT_EMIT", a]));
                code.push(json!(["EFFECT_NEW", a, self.src.pick(TYPES), b]));
                code.push(json!(["EFFECT_REQUEST", a]));
            }
        }
    }

    fn body(&mut self, f: usize) -> Vec<J> {
        self.kinds = vec![Kind::Unknown; self.funcs[f].regs];
        let n_labels = 1 + self.src.below(3);
        let labels: Vec<String> = (0..n_labels).map(|i| format!("L{i}")).collect();
        let mut code: Vec<J> = Vec::new();
        // Preload a few registers so operations meet typed values.
        for i in 0..self.src.below(5) {
            let r = self.reg(f);
            let c = if i < 2 {
                let n = self.src.range(-2, 5);
                self.int_const(n)
            } else {
                self.src.below(self.consts.len())
            };
            code.push(json!(["LOAD_CONST", r, c]));
            let k = const_kind(&self.consts[c]);
            self.note(r, k);
        }
        // Short bodies are common (they tend to complete), long ones possible.
        let n = {
            let m = self.src.below(self.shape.max_body + 1);
            self.src.below(m + 1)
        };
        let mut placed = 0;
        for i in 0..n {
            if placed < n_labels && self.src.below(n.max(1)) < n_labels.max(1) && i > 0 {
                code.push(json!(["LABEL", labels[placed]]));
                placed += 1;
            }
            if self.src.below(16) < self.shape.template_weight {
                self.template(f, &labels, &mut code);
            } else {
                let op = if self.src.coin() {
                    *self.src.pick(CORE_OPS)
                } else {
                    *self.src.pick(Opcode::ALL)
                };
                if op == Opcode::Label {
                    continue;
                }
                let ins = self.instr(f, op, &labels);
                code.push(ins);
            }
        }
        while placed < n_labels {
            code.push(json!(["LABEL", labels[placed]]));
            placed += 1;
        }
        // Mostly end with a return, sometimes fall off the end.
        if self.src.below(8) != 0 {
            let r = self.reg(f);
            code.push(json!([*self.src.pick(&["RETURN", "RETURN", "HALT"]), r]));
        }
        code
    }
}

/// The `stateMachines` object: two machines over [`STATES`] and [`EVENTS`]
/// whose hooks are functions of the program.
fn machines<S: Source>(src: &mut S, funcs: &[Func]) -> J {
    let mut out = Map::new();
    for id in ["m0", "m1"] {
        let mut transitions = Vec::new();
        for _ in 0..src.below(5) {
            let mut t = Map::new();
            t.insert("from".into(), json!(src.pick(STATES)));
            t.insert("event".into(), json!(src.pick(EVENTS)));
            match src.below(4) {
                0 => {}
                1 => {
                    t.insert("to".into(), json!({"stay": true}));
                }
                2 => {
                    let g = src.pick(funcs).id.clone();
                    t.insert("to".into(), json!({ "computed": g }));
                }
                _ => {
                    t.insert("to".into(), json!(src.pick(STATES)));
                }
            }
            for hook in ["guard", "action"] {
                if src.below(3) == 0 {
                    t.insert(hook.into(), json!(src.pick(funcs).id));
                }
            }
            if src.coin() {
                t.insert("priority".into(), json!(src.range(-1, 2)));
            }
            transitions.push(J::Object(t));
        }
        let invariants: Vec<J> = (0..src.below(2))
            .map(|_| json!({"check": src.pick(funcs).id, "errorCode": src.range(0, 9)}))
            .collect();
        let mut def = Map::new();
        def.insert("initialState".into(), json!("s0"));
        if src.coin() {
            def.insert("states".into(), json!(STATES));
        }
        def.insert("transitions".into(), J::Array(transitions));
        def.insert("invariants".into(), J::Array(invariants));
        out.insert(id.into(), J::Object(def));
    }
    J::Object(out)
}

/// Small limits that keep every run bounded and reach the limits often.
fn limits<S: Source>(src: &mut S, shape: &Shape) -> J {
    let mut l = Map::new();
    let mut set = |name: &str, v: i64| {
        l.insert(name.to_string(), json!(v));
    };
    set(
        "maxSteps",
        *src.pick(&[
            1,
            40,
            1_000,
            shape.max_steps,
            shape.max_steps,
            shape.max_steps,
            shape.max_steps,
            shape.max_steps,
        ])
        .min(&shape.max_steps),
    );
    set("maxProcessStepsPerSlice", src.range(1, 40));
    set("maxIntBits", *src.pick(&[64, 65, 200, 4096]));
    set("maxStringLength", *src.pick(&[0, 16, 1000, 8_192]));
    set("maxListLength", *src.pick(&[3, 64, 256]));
    set("maxMapSize", *src.pick(&[3, 64, 256]));
    set("maxRecordFields", *src.pick(&[2, 64, 64]));
    set("maxValueDepth", *src.pick(&[1, 4, 20, 20, 100]));
    set("maxValueSize", *src.pick(&[64, 4096, 1 << 20]));
    set(
        "maxOutputSize",
        *src.pick(&[2_048, 65_536, 1 << 20, 1 << 20]),
    );
    // A snapshot costs time in the size of the machine: keep machines small
    // (a fork bomb of 1,024 processes snapshotting each other takes seconds).
    set("maxProcesses", src.range(1, 16));
    if src.coin() {
        set("maxCallDepth", src.range(0, 12));
        set("maxFrames", src.range(0, 12));
        set("maxMailboxSize", src.range(0, 8));
        set(
            "maxRegistersPerFrame",
            *src.pick(&[8, 16, 1024, 1024, 1024, 1024, 1024]),
        );
        set("maxStateEntries", src.range(0, 8));
        set("maxTraceEvents", src.range(0, 64));
        set("maxProofEvents", src.range(0, 16));
        set("maxEventsEmitted", src.range(0, 8));
        set("maxEffectsRequested", src.range(0, 8));
        set("maxRemoteNodes", src.range(0, 3));
    }
    J::Object(l)
}

/// Draws a program.
pub fn program<S: Source>(src: &mut S, shape: Shape) -> Generated {
    let n_funcs = 1 + src.below(4);
    let mut funcs = vec![];
    for i in 0..n_funcs {
        let arity = if i == 0 { 0 } else { src.below(3) };
        let regs = (arity + 3 + src.below(8)).max(arity);
        let id = if i == 0 {
            "main".to_string()
        } else {
            format!("f{i}")
        };
        funcs.push(Func { id, arity, regs });
    }
    let consts: Vec<J> = (0..1 + src.below(8)).map(|_| value(src, 2)).collect();
    let mut ctx = Ctx {
        src,
        funcs,
        consts,
        key_consts: Vec::new(),
        shape,
        kinds: Vec::new(),
    };
    let mut functions = Map::new();
    for f in 0..ctx.funcs.len() {
        let code = ctx.body(f);
        let func = &ctx.funcs[f];
        functions.insert(
            func.id.clone(),
            json!({"arity": func.arity, "registerCount": func.regs, "instructions": code}),
        );
    }
    let Ctx {
        src,
        funcs,
        consts,
        key_consts,
        ..
    } = ctx;
    let mut doc = Map::new();
    doc.insert("version".into(), json!("1.0"));
    doc.insert("constants".into(), J::Array(consts));
    doc.insert("functions".into(), J::Object(functions));
    let mut state = Map::new();
    for _ in 0..src.below(3) {
        state.insert(src.pick(&STATE_KEYS[..5]).to_string(), value(src, 1));
    }
    doc.insert("state".into(), J::Object(state));
    let mut input = Map::new();
    for k in &INPUT_KEYS[..2] {
        if src.coin() {
            input.insert(k.to_string(), value(src, 1));
        }
    }
    doc.insert("input".into(), J::Object(input));
    doc.insert("limits".into(), limits(src, &shape));
    doc.insert("performanceMode".into(), json!(src.below(4) == 0));
    doc.insert("stateMachines".into(), machines(src, &funcs));
    Generated {
        doc: J::Object(doc),
        keys: key_consts.into_iter().map(|(_, k)| k).collect(),
    }
}
