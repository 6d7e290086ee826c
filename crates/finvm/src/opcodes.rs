//! The instruction set, declared once.
//!
//! Every opcode's JSON name and operand kinds live in the table below. The
//! decoder reads operands by these kinds, the validator finds register
//! operands by them, and `docs/opcodes.md` is generated from them
//! ([`opcode_table_markdown`]).

/// The kind of one operand in the JSON wire form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// A register index (32-bit integer).
    R,
    /// A literal 32-bit integer.
    I,
    /// A string (label, function id, field, key, tag, type, spec...).
    S,
    /// A boolean.
    B,
    /// An array of register indices.
    Rs,
    /// A rounding-mode name.
    Rm,
}

impl ArgKind {
    /// Short name used in the docs.
    pub fn doc(self) -> &'static str {
        match self {
            ArgKind::R => "reg",
            ArgKind::I => "int",
            ArgKind::S => "string",
            ArgKind::B => "bool",
            ArgKind::Rs => "[reg…]",
            ArgKind::Rm => "rounding",
        }
    }

    /// True for operands that name registers.
    pub fn is_register(self) -> bool {
        matches!(self, ArgKind::R | ArgKind::Rs)
    }
}

macro_rules! opcodes {
    ($( $group:literal { $( $variant:ident = $name:literal [$($kind:ident $role:literal),*] $doc:literal; )* } )*) => {
        /// Every FinVM opcode.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Opcode {
            $($(
                #[doc = $doc]
                $variant,
            )*)*
        }

        impl Opcode {
            /// All opcodes in table order.
            pub const ALL: &'static [Opcode] = &[$($(Opcode::$variant,)*)*];

            /// The JSON name (`"ADD"`).
            pub fn name(self) -> &'static str {
                match self { $($(Opcode::$variant => $name,)*)* }
            }

            /// Looks up an opcode by its JSON name (case-sensitive).
            pub fn from_name(s: &str) -> Option<Opcode> {
                match s { $($($name => Some(Opcode::$variant),)*)* _ => None }
            }

            /// Operand kinds, in wire order.
            pub fn args(self) -> &'static [ArgKind] {
                match self { $($(Opcode::$variant => &[$(ArgKind::$kind),*],)*)* }
            }

            /// Operand role names, in wire order (for docs and messages).
            pub fn roles(self) -> &'static [&'static str] {
                match self { $($(Opcode::$variant => &[$($role),*],)*)* }
            }

            /// One-line description.
            pub fn doc(self) -> &'static str {
                match self { $($(Opcode::$variant => $doc,)*)* }
            }

            /// The documentation group.
            pub fn group(self) -> &'static str {
                match self { $($(Opcode::$variant => $group,)*)* }
            }
        }
    };
}

opcodes! {
    "Control flow" {
        Noop = "NOOP" [] "Does nothing.";
        Halt = "HALT" [R "src"] "Ends the whole process with the value of `src`.";
        Abort = "ABORT" [I "code"] "Fails the process with `CustomErrorCode code: Aborted`.";
        Label = "LABEL" [S "name"] "A jump target; executes as a no-op step.";
        Jump = "JUMP" [S "label"] "Jumps to the label (lands on the LABEL instruction).";
        JumpIf = "JUMP_IF" [R "cond", S "label"] "Jumps when `cond` is true (Bool required).";
        JumpIfFalse = "JUMP_IF_FALSE" [R "cond", S "label"] "Jumps when `cond` is false (Bool required).";
        Call = "CALL" [R "dst", S "function", Rs "args"] "Calls a function; its RETURN value lands in `dst`.";
        TailCall = "TAIL_CALL" [S "function", Rs "args"] "Replaces the current frame with a call.";
        Return = "RETURN" [R "src"] "Returns `src` to the caller (or completes the process).";
    }
    "Data movement" {
        LoadConst = "LOAD_CONST" [R "dst", I "index"] "Loads a constant from the program's pool.";
        LoadInput = "LOAD_INPUT" [R "dst", S "key"] "Loads an input value.";
        LoadContext = "LOAD_CONTEXT" [R "dst", S "key"] "Loads an input value (context alias).";
        Move = "MOVE" [R "dst", R "src"] "Copies a register.";
        Clear = "CLEAR" [R "dst"] "Sets a register to unit.";
    }
    "Records" {
        RecordNew = "RECORD_NEW" [R "dst"] "An empty record.";
        RecordGet = "RECORD_GET" [R "dst", R "record", S "field"] "Reads a field (MissingState if absent).";
        RecordGetOpt = "RECORD_GET_OPT" [R "dst", R "record", S "field"] "Reads a field as an Option.";
        RecordSet = "RECORD_SET" [R "dst", R "record", S "field", R "value"] "A record with the field set.";
        RecordHas = "RECORD_HAS" [R "dst", R "record", S "field"] "Whether the field exists.";
        RecordRemove = "RECORD_REMOVE" [R "dst", R "record", S "field"] "A record without the field.";
        RecordKeys = "RECORD_KEYS" [R "dst", R "record"] "The field names, sorted.";
    }
    "Lists" {
        ListNew = "LIST_NEW" [R "dst"] "An empty list.";
        ListFrom = "LIST_FROM" [R "dst", Rs "items"] "A list of the registers' values.";
        ListGet = "LIST_GET" [R "dst", R "list", R "index"] "Reads an element.";
        ListSet = "LIST_SET" [R "dst", R "list", R "index", R "value"] "A list with one element replaced.";
        ListAppend = "LIST_APPEND" [R "dst", R "list", R "value"] "A list with a value appended.";
        ListLength = "LIST_LENGTH" [R "dst", R "list"] "The number of elements.";
        ListSlice = "LIST_SLICE" [R "dst", R "list", R "start", R "end"] "A sub-list (JavaScript slice semantics).";
    }
    "Maps" {
        MapNew = "MAP_NEW" [R "dst"] "An empty map.";
        MapGet = "MAP_GET" [R "dst", R "map", R "key"] "Reads an entry (MissingState if absent).";
        MapGetOpt = "MAP_GET_OPT" [R "dst", R "map", R "key"] "Reads an entry as an Option.";
        MapSet = "MAP_SET" [R "dst", R "map", R "key", R "value"] "A map with the entry set.";
        MapHas = "MAP_HAS" [R "dst", R "map", R "key"] "Whether the key exists.";
        MapRemove = "MAP_REMOVE" [R "dst", R "map", R "key"] "A map without the key.";
        MapKeys = "MAP_KEYS" [R "dst", R "map"] "The keys in ascending order.";
        MapValues = "MAP_VALUES" [R "dst", R "map"] "The values in ascending key order.";
        MapSize = "MAP_SIZE" [R "dst", R "map"] "The number of entries.";
    }
    "Variants" {
        VariantNew = "VARIANT_NEW" [R "dst", S "tag", R "payload"] "A variant.";
        VariantTag = "VARIANT_TAG" [R "dst", R "variant"] "The variant's tag as a String.";
        VariantPayload = "VARIANT_PAYLOAD" [R "dst", R "variant"] "The variant's payload.";
    }
    "Arithmetic" {
        Add = "ADD" [R "dst", R "a", R "b"] "a + b (Int, Fixed, Rational; mixed kinds promote).";
        Sub = "SUB" [R "dst", R "a", R "b"] "a - b.";
        Mul = "MUL" [R "dst", R "a", R "b"] "a × b.";
        Div = "DIV" [R "dst", Rm "rounding", R "a", R "b"] "a / b, rounded by the mode (Rational is exact).";
        Mod = "MOD" [R "dst", R "a", R "b"] "Truncated remainder of two Ints.";
        Neg = "NEG" [R "dst", R "a"] "Negation.";
        Abs = "ABS" [R "dst", R "a"] "Absolute value.";
        Min = "MIN" [R "dst", R "a", R "b"] "The smaller by value order.";
        Max = "MAX" [R "dst", R "a", R "b"] "The larger by value order.";
        Clamp = "CLAMP" [R "dst", R "value", R "lo", R "hi"] "`value` clamped to [lo, hi].";
    }
    "Comparison" {
        Eq = "EQ" [R "dst", R "a", R "b"] "Structural equality.";
        Neq = "NEQ" [R "dst", R "a", R "b"] "Structural inequality.";
        Lt = "LT" [R "dst", R "a", R "b"] "a < b by value order.";
        Lte = "LTE" [R "dst", R "a", R "b"] "a <= b.";
        Gt = "GT" [R "dst", R "a", R "b"] "a > b.";
        Gte = "GTE" [R "dst", R "a", R "b"] "a >= b.";
        Compare = "COMPARE" [R "dst", R "a", R "b"] "-1, 0 or 1.";
    }
    "Builtins" {
        CallBuiltin = "CALL_BUILTIN" [R "dst", S "id@version", Rs "args"] "Calls a builtin function.";
    }
    "Global state" {
        StateGet = "STATE_GET" [R "dst", S "key"] "Reads a state key (MissingState if absent).";
        StateGetOpt = "STATE_GET_OPT" [R "dst", S "key"] "Reads a state key as an Option.";
        StateSet = "STATE_SET" [S "key", R "src"] "Writes a state key.";
        StateDelete = "STATE_DELETE" [S "key"] "Removes a state key.";
        StateExists = "STATE_EXISTS" [R "dst", S "key"] "Whether a state key exists.";
        StateKeys = "STATE_KEYS" [R "dst", S "prefix"] "The state keys starting with `prefix`, sorted.";
        StateSnapshot = "STATE_SNAPSHOT" [R "dst"] "The canonical machine snapshot text.";
    }
    "Events and effects" {
        EventNew = "EVENT_NEW" [R "dst", S "type", R "payload"] "An event value.";
        EventEmit = "EVENT_EMIT" [R "event"] "Emits an event (or each event of a batch).";
        EventBatchNew = "EVENT_BATCH_NEW" [R "dst"] "An empty event batch (a list).";
        EventBatchAppend = "EVENT_BATCH_APPEND" [R "dst", R "batch", R "event"] "A batch with an event appended.";
        EffectNew = "EFFECT_NEW" [R "dst", S "type", R "payload"] "An effect intent value.";
        EffectRequest = "EFFECT_REQUEST" [R "effect"] "Requests an effect (or each effect of a batch).";
        EffectAwait = "EFFECT_AWAIT" [R "effect"] "Requests an effect and waits for its reply.";
        EffectBatchNew = "EFFECT_BATCH_NEW" [R "dst"] "An empty effect batch (a list).";
        EffectBatchAppend = "EFFECT_BATCH_APPEND" [R "dst", R "batch", R "effect"] "A batch with an effect appended.";
    }
    "Processes" {
        ProcSelf = "PROC_SELF" [R "dst"] "The running process's pid.";
        ProcStatus = "PROC_STATUS" [R "dst", R "pid"] "A process's status text.";
        ProcSpawn = "PROC_SPAWN" [R "dst", S "function", Rs "args"] "Spawns a process.";
        ProcYield = "PROC_YIELD" [] "Ends the slice; the process goes to the back of the queue.";
        ProcJoin = "PROC_JOIN" [R "dst", R "pid"] "Waits until a process terminates.";
        ProcJoinResult = "PROC_JOIN_RESULT" [R "dst", R "pid"] "A terminated process's result as an Option.";
        ProcCancel = "PROC_CANCEL" [R "dst", R "pid"] "Cancels a process.";
        ProcExit = "PROC_EXIT" [R "reason"] "Exits the running process.";
        ProcSend = "PROC_SEND" [R "pid", R "message"] "Sends a message.";
        ProcReceive = "PROC_RECEIVE" [R "dst"] "Receives the oldest message, waiting if none.";
        ProcReceiveOpt = "PROC_RECEIVE_OPT" [R "dst"] "Receives the oldest message as an Option.";
        ProcReceiveMatch = "PROC_RECEIVE_MATCH" [R "dst", R "tag"] "Receives the first variant with the tag, waiting if none.";
        ProcReceiveMatchOpt = "PROC_RECEIVE_MATCH_OPT" [R "dst", R "tag"] "Receives the first variant with the tag as an Option.";
        ProcLink = "PROC_LINK" [R "pid"] "Links to a process.";
        ProcUnlink = "PROC_UNLINK" [R "pid"] "Removes a link.";
        ProcMonitor = "PROC_MONITOR" [R "dst", R "pid"] "Monitors a process; returns the monitor ref.";
        ProcDemonitor = "PROC_DEMONITOR" [R "ref"] "Removes a monitor.";
        ProcTrapExit = "PROC_TRAP_EXIT" [B "flag"] "Sets whether exit signals become EXIT messages.";
        ProcSleepTicks = "PROC_SLEEP_TICKS" [I "ticks"] "Sleeps for logical ticks.";
    }
    "Distribution" {
        NodeSelf = "NODE_SELF" [R "dst"] "The local node name.";
        NodeStatus = "NODE_STATUS" [R "dst", R "node"] "A node's status text.";
        NodeKnown = "NODE_KNOWN" [R "dst"] "The known node names.";
        RemotePidNew = "REMOTE_PID_NEW" [R "dst", R "node", R "pid"] "A remote process ref.";
        RemotePidNode = "REMOTE_PID_NODE" [R "dst", R "remote"] "A remote ref's node.";
        RemotePidLocal = "REMOTE_PID_LOCAL" [R "dst", R "remote"] "A remote ref's pid.";
        NodeSend = "NODE_SEND" [R "remote", R "message"] "Sends to a remote process (an intent).";
        NodeSpawn = "NODE_SPAWN" [R "dst", R "node", S "function", Rs "args"] "Spawns on a remote node (an intent).";
        NodeLink = "NODE_LINK" [R "remote"] "Links to a remote process.";
        NodeUnlink = "NODE_UNLINK" [R "remote"] "Unlinks a remote process.";
        NodeMonitor = "NODE_MONITOR" [R "dst", R "remote"] "Monitors a remote process.";
        NodeDemonitor = "NODE_DEMONITOR" [R "ref"] "Removes a remote monitor.";
        NodeObserveState = "NODE_OBSERVE_STATE" [R "dst", R "node"] "Asks a node for its state hash (an intent).";
        NodeLastStateHash = "NODE_LAST_STATE_HASH" [R "dst", R "node"] "The last known state hash of a node.";
        NodeLastSeenTick = "NODE_LAST_SEEN_TICK" [R "dst", R "node"] "The last tick a node was seen.";
        NodeQueryState = "NODE_QUERY_STATE" [R "dst", R "node"] "Queries a node's state (an intent).";
    }
    "State machines" {
        MachineNew = "MACHINE_NEW" [R "dst", S "machine", R "data"] "A new state-machine instance.";
        MachineState = "MACHINE_STATE" [R "dst", R "instance"] "The instance's current state.";
        MachineTransition = "MACHINE_TRANSITION" [R "dst", R "instance", S "event"] "Applies an event to an instance.";
    }
    "Proofs" {
        Assert = "ASSERT" [R "cond", I "code"] "Fails the run unless `cond` is true.";
        Assume = "ASSUME" [R "cond", S "note"] "Records an assumption.";
        InvariantCheck = "INVARIANT_CHECK" [S "function"] "Runs an invariant function; it must return true.";
        ProofMark = "PROOF_MARK" [S "label", R "value"] "Records a labelled value in the proof trace.";
        ProofScopeBegin = "PROOF_SCOPE_BEGIN" [S "label"] "Opens a proof scope.";
        ProofScopeEnd = "PROOF_SCOPE_END" [S "label"] "Closes a proof scope.";
    }
}

/// The opcode reference as a Markdown table (the source of `docs/opcodes.md`).
pub fn opcode_table_markdown() -> String {
    let mut out = String::new();
    let mut group = "";
    for op in Opcode::ALL {
        if op.group() != group {
            group = op.group();
            out.push_str(&format!(
                "\n## {group}\n\n| opcode | operands | meaning |\n|---|---|---|\n"
            ));
        }
        let operands: Vec<String> = op
            .args()
            .iter()
            .zip(op.roles())
            .map(|(k, r)| format!("{r}: {}", k.doc()))
            .collect();
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            op.name(),
            operands.join(", "),
            op.doc()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_isa_has_119_opcodes_with_unique_names() {
        assert_eq!(Opcode::ALL.len(), 119);
        for op in Opcode::ALL {
            assert_eq!(Opcode::from_name(op.name()), Some(*op));
            assert_eq!(op.args().len(), op.roles().len());
        }
        assert_eq!(Opcode::from_name("add"), None);
    }
}
