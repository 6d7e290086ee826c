//! The machine: global state, processes, the scheduler loop and run results.
//!
//! `main` is a process like any other and runs under the same slice loop
//! (`PROCESSES.md` §2). The process table is always live (`DECISIONS.md`):
//! the running process has status `Running` and is observed as it is now.

use crate::error::{err, ErrorCode, VmError, VmResult};
use crate::limits::Limits;
use crate::program::Program;
use crate::value::{Str, Tagged, Value};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

/// Why a process waits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wait {
    /// `PROC_RECEIVE` on an empty mailbox.
    Message,
    /// `PROC_RECEIVE_MATCH` with no variant of the tag.
    Match(Str),
    /// `PROC_JOIN` on a live process.
    Process(Str),
    /// Waiting for a monitor (restorable from snapshots only).
    Monitor(Str),
    /// `PROC_SLEEP_TICKS` until this logical tick.
    Tick(i64),
    /// Waiting for a remote node (restorable from snapshots only).
    RemoteNode(Str),
    /// Waiting for a remote process (restorable from snapshots only).
    RemoteProcess(Str, Str),
    /// `EFFECT_AWAIT` for the reply with this key.
    Effect(Str),
}

impl Wait {
    /// The reference's display text (`WaitingOnEffect k1`, ...).
    pub fn show(&self) -> String {
        match self {
            Wait::Message => "WaitingForMessage".into(),
            Wait::Match(t) => format!("WaitingOnMatch {t}"),
            Wait::Process(p) => format!("WaitingForProcess {p}"),
            Wait::Monitor(r) => format!("WaitingForMonitor {r}"),
            Wait::Tick(t) => format!("WaitingForTick {t}"),
            Wait::RemoteNode(n) => format!("WaitingForRemoteNode NodeRef {n}"),
            Wait::RemoteProcess(_, p) => format!("WaitingForRemoteProcess {p}"),
            Wait::Effect(k) => format!("WaitingOnEffect {k}"),
        }
    }
}

/// A process status.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// Runnable (in the ready queue).
    Ready,
    /// Executing its slice right now.
    Running,
    /// Blocked.
    Waiting(Wait),
    /// Finished with a value.
    Completed(Value),
    /// Failed (ABORT, or a runtime error in a spawned process).
    Failed(Box<VmError>),
    /// Cancelled by `PROC_CANCEL`.
    Cancelled(Str),
    /// Ended by `PROC_EXIT`, an exit signal or a disconnect.
    Exited(Str),
}

impl Status {
    /// Completed, Failed, Cancelled or Exited.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Status::Completed(_) | Status::Failed(_) | Status::Cancelled(_) | Status::Exited(_)
        )
    }

    /// The DOWN reason of a terminal status (`normal`, `failed`, `cancelled`, `exited`).
    pub fn down_reason(&self) -> Option<&'static str> {
        Some(match self {
            Status::Completed(_) => "normal",
            Status::Failed(_) => "failed",
            Status::Cancelled(_) => "cancelled",
            Status::Exited(_) => "exited",
            _ => return None,
        })
    }

    /// The reference's display text (`ProcessReady`, `ProcessCompleted (VInt ...)`, ...).
    pub fn show(&self) -> String {
        match self {
            Status::Ready => "ProcessReady".into(),
            Status::Running => "ProcessRunning".into(),
            Status::Waiting(w) => format!("ProcessWaiting ({})", w.show()),
            Status::Completed(v) => format!("ProcessCompleted ({})", crate::value::show::show(v)),
            Status::Failed(e) => format!("ProcessFailed ({})", e.show()),
            Status::Cancelled(r) => format!("ProcessCancelled (CancelReason {r})"),
            Status::Exited(r) => format!("ProcessExited (ExitReason {r})"),
        }
    }
}

/// What a monitor watches.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MonitorTarget {
    /// A local process.
    Local(Str),
    /// A remote process: node and pid.
    Remote(Str, Str),
}

/// A call frame. Its registers are `regs[base .. base + registerCount]` of
/// the owning process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Function index.
    pub func: u32,
    /// Program counter.
    pub pc: u32,
    /// Offset of register 0 in the process's register stack.
    pub base: u32,
    /// Caller register receiving this frame's RETURN value.
    pub ret: Option<u32>,
}

/// A process.
#[derive(Clone, Debug)]
pub struct Process {
    /// `main`, `p0`, `p1`, ...
    pub pid: Str,
    /// Status.
    pub status: Status,
    /// The function it was started with.
    pub function: u32,
    /// The current frame.
    pub frame: Frame,
    /// Suspended caller frames, innermost last.
    pub call_stack: Vec<Frame>,
    /// The register stack shared by all frames.
    pub regs: Vec<Value>,
    /// Messages, oldest first.
    pub mailbox: VecDeque<Value>,
    /// Linked local pids.
    pub links: BTreeSet<Str>,
    /// Linked remote processes (node, pid).
    pub remote_links: BTreeSet<(Str, Str)>,
    /// Monitors this process holds: ref → target.
    pub monitors: BTreeMap<Str, MonitorTarget>,
    /// The spawning process.
    pub parent: Option<Str>,
    /// Spawned processes.
    pub children: BTreeSet<Str>,
    /// Whether exit signals arrive as `EXIT` messages.
    pub trap_exit: bool,
    /// `metadata.name`.
    pub name: Str,
    /// The completion value.
    pub result: Option<Value>,
    /// Creation sequence (0 for main, n+1 for `p<n>`).
    pub created_seq: u64,
    /// Instructions this process executed.
    pub steps_executed: u64,
    /// True when an `Exited` status came from an exit signal (link or
    /// disconnect) rather than the process's own `PROC_EXIT`.
    pub killed_by_signal: bool,
}

impl Process {
    /// A fresh process at pc 0 of `func` with `register_count` unit registers
    /// and the arguments in registers 0.. (extra arguments dropped).
    pub fn new(
        pid: Str,
        func: u32,
        register_count: u32,
        args: Vec<Value>,
        created_seq: u64,
    ) -> Process {
        let mut regs = vec![Value::Unit; register_count as usize];
        for (r, a) in regs.iter_mut().zip(args) {
            *r = a;
        }
        Process {
            name: pid.clone(),
            pid,
            status: Status::Ready,
            function: func,
            frame: Frame {
                func,
                pc: 0,
                base: 0,
                ret: None,
            },
            call_stack: Vec::new(),
            regs,
            mailbox: VecDeque::new(),
            links: BTreeSet::new(),
            remote_links: BTreeSet::new(),
            monitors: BTreeMap::new(),
            parent: None,
            children: BTreeSet::new(),
            trap_exit: false,
            result: None,
            created_seq,
            steps_executed: 0,
            killed_by_signal: false,
        }
    }

    /// The current frame's registers.
    pub fn frame_regs(&self, register_count: u32) -> &[Value] {
        let b = self.frame.base as usize;
        let end = (b + register_count as usize).min(self.regs.len());
        &self.regs[b.min(end)..end]
    }
}

/// A proof-trace event.
#[derive(Clone, Debug, PartialEq)]
pub enum ProofEvent {
    /// `ASSUME`.
    Assumption(Str),
    /// `ASSERT` (true) with its code.
    Assertion(bool, i32),
    /// `INVARIANT_CHECK`.
    InvariantChecked(Str, bool),
    /// `PROOF_MARK`.
    ValueMarked(Str, Value),
    /// `PROOF_SCOPE_BEGIN`.
    ScopeBegin(Str),
    /// `PROOF_SCOPE_END`.
    ScopeEnd(Str),
}

/// Known facts about a remote node (`__finvm.nodes`).
#[derive(Clone, Debug, PartialEq)]
pub struct NodeInfo {
    /// `up`, `down`, ...
    pub status: Str,
    /// Optional reason text.
    pub reason: Option<Str>,
    /// Last tick the node was seen.
    pub last_seen_tick: Option<i64>,
    /// Last known state hash.
    pub last_state_hash: Option<Str>,
}

/// Everything but the process table (split out so the interpreter can borrow
/// the running process and the machine state at once).
#[derive(Clone, Debug)]
pub struct Core {
    /// The program.
    pub program: Rc<Program>,
    /// Global state.
    pub state: BTreeMap<Str, Value>,
    /// The input map (read-only).
    pub input: Rc<BTreeMap<Str, Value>>,
    /// Limits in force.
    pub limits: Limits,
    /// Suppress trace and proof trace.
    pub performance_mode: bool,
    /// Whether to record the execution trace.
    pub tracing: bool,
    /// Run the consecutive scheduler slices of a process that runs alone in
    /// one go (on by default; the result, steps and trace are the same, it
    /// only skips epilogues that have nothing to do). Off for differential
    /// tests.
    pub coalesce_slices: bool,
    /// Run instructions on small ints and booleans in the interpreter's
    /// call-free scalar loop (on by default). Off, every instruction takes
    /// the general path: the same results, steps and trace, for
    /// differential tests.
    pub scalar_loop: bool,
    /// Global step counter.
    pub steps: u64,
    /// The step count at which this run call fails with `StepLimitExceeded`.
    pub step_limit: u64,
    /// Emitted events (type, payload), in order.
    pub events: Vec<Tagged>,
    /// Requested effect intents (type, payload), in order.
    pub outbox: Vec<Tagged>,
    /// Executed instructions as (function index, pc), when tracing.
    pub trace: Trace,
    /// The trace hit `maxTraceEvents` and stopped recording.
    pub trace_truncated: bool,
    /// Proof events, in order.
    pub proof: Vec<ProofEvent>,
    /// The proof trace hit `maxProofEvents` and stopped recording.
    pub proof_truncated: bool,
    /// Current nesting of synchronous state-machine hooks.
    pub hook_depth: u32,
    /// Indexes and table hashes derived from `__finvm.db` (never observable).
    pub db_cache: crate::db::DbCache,
}

/// The execution trace: the (function index, pc) of every step, kept as
/// runs of consecutive pcs in one function, and a run that repeats the one
/// before it (a loop body) as a repeat count of that run. Recording a step
/// is a compare and an increment; the memory follows the distinct paths
/// control takes, not the steps (a loop that takes the same path each
/// iteration costs one run).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    runs: Vec<TraceRun>,
    len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TraceRun {
    func: u32,
    pc: u32,
    count: u32,
    /// How many times the run occurs back to back; only the last run,
    /// while it is 1, still grows.
    repeat: u32,
}

impl TraceRun {
    fn same_path(&self, other: &TraceRun) -> bool {
        (self.func, self.pc, self.count) == (other.func, other.pc, other.count)
    }
}

impl Trace {
    /// Records a step.
    #[inline]
    pub fn push(&mut self, func: u32, pc: u32) {
        self.push_run(func, pc, 1);
    }

    /// Records `count` steps at consecutive pcs from `pc`: what `count`
    /// calls of [`Trace::push`] record.
    #[inline]
    pub fn push_run(&mut self, func: u32, pc: u32, count: u32) {
        if count == 0 {
            return;
        }
        self.len += count as usize;
        let new = TraceRun {
            func,
            pc,
            count,
            repeat: 1,
        };
        match self.runs.as_mut_slice() {
            // A loop body again: `[.., A×r, A]` + `A` is `[.., A×(r+1), A]`
            // (the run before the last takes the last's repeat, and the
            // new run is the new last).
            [.., before, last]
                if last.repeat == 1
                    && last.same_path(&new)
                    && before.same_path(&new)
                    && before.repeat < u32::MAX =>
            {
                before.repeat += 1;
                return;
            }
            [.., r] if r.repeat == 1 && r.func == func && r.pc.wrapping_add(r.count) == pc => {
                if let Some(n) = r.count.checked_add(count) {
                    r.count = n;
                    return;
                }
            }
            _ => {}
        }
        self.start_run(func, pc, count);
    }

    /// Records the run of `count` steps at consecutive pcs from `pc`
    /// `times` times back to back: what `times` calls of
    /// [`Trace::push_run`] record, in a few steps (a loop body's iterations
    /// become one repeat count).
    pub fn push_runs(&mut self, func: u32, pc: u32, count: u32, mut times: u32) {
        if count == 0 {
            return;
        }
        let run = TraceRun {
            func,
            pc,
            count,
            repeat: 1,
        };
        while times > 0 {
            self.push_run(func, pc, count);
            times -= 1;
            // `[.., A×r, A]`: each further `A` adds one to `r` (see
            // `push_run`), so the rest add at once, as far as `r` can go.
            if let [.., before, last] = self.runs.as_mut_slice() {
                if last.repeat == 1 && last.same_path(&run) && before.same_path(&run) {
                    let more = times.min(u32::MAX - before.repeat);
                    before.repeat += more;
                    self.len += more as usize * count as usize;
                    times -= more;
                }
            }
        }
    }

    /// Closes the last run (folding it into the one before when it repeats
    /// that one) and starts a new one of `count` steps at `pc`.
    #[inline(never)]
    fn start_run(&mut self, func: u32, pc: u32, count: u32) {
        if let [.., before, last] = self.runs.as_mut_slice() {
            if last.repeat == 1 && before.same_path(last) && before.repeat < u32::MAX {
                before.repeat += 1;
                self.runs.pop();
            }
        }
        self.runs.push(TraceRun {
            func,
            pc,
            count,
            repeat: 1,
        });
    }

    /// Steps recorded.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no step is recorded.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every step.
    pub fn clear(&mut self) {
        self.runs.clear();
        self.len = 0;
    }

    /// The steps in order, as (function index, pc).
    pub fn iter(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.runs.iter().flat_map(|r| {
            (0..r.repeat)
                .flat_map(move |_| (0..r.count).map(move |i| (r.func, r.pc.wrapping_add(i))))
        })
    }

    /// The last step.
    pub fn last(&self) -> Option<(u32, u32)> {
        self.runs
            .last()
            .map(|r| (r.func, r.pc.wrapping_add(r.count - 1)))
    }
}

impl Core {
    /// Records one trace entry (bounded by `maxTraceEvents`).
    #[inline]
    pub fn record_trace(&mut self, func: u32, pc: u32) {
        if self.trace.len() < self.limits.max_trace_events.max(0) as usize {
            self.trace.push(func, pc);
        } else {
            self.trace_truncated = true;
        }
    }

    /// Records one proof event (bounded by `maxProofEvents`), unless in performance mode.
    pub fn record_proof(&mut self, e: ProofEvent) {
        if self.performance_mode {
            return;
        }
        if self.proof.len() < self.limits.max_proof_events.max(0) as usize {
            self.proof.push(e);
        } else {
            self.proof_truncated = true;
        }
    }

    /// Error for the global step budget.
    #[cold]
    pub fn step_limit_error(&self) -> Box<VmError> {
        crate::error::vm_error(
            ErrorCode::StepLimitExceeded,
            "Process exceeded global step limit",
        )
    }
}

/// The whole machine.
#[derive(Clone, Debug)]
pub struct Machine {
    /// State, program, counters, traces.
    pub core: Core,
    /// Processes by slot; slot 0 is `main`.
    pub procs: Vec<Process>,
    /// pid → slot, iterated in ascending pid (UTF-16) order.
    pub by_pid: BTreeMap<Str, usize>,
    /// FIFO of runnable slots.
    pub ready: VecDeque<usize>,
    /// Next spawn number (`p<n>`).
    pub next_pid_seq: u64,
    /// The logical clock.
    pub tick: i64,
    /// The most recently scheduled pid.
    pub current: Option<Str>,
    /// Remote nodes known to this machine.
    pub nodes: BTreeMap<Str, NodeInfo>,
    /// Number of processes not yet terminated.
    pub live: usize,
    /// Scheduler indexes (sleepers, joiners, monitors, pid lookup); see
    /// [`crate::process::sched`]. Rebuilt at the start of every run.
    pub sched: crate::process::Sched,
}

/// How the run loop ends when nothing is ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `finvm run`: stop when main completed; deadlock is an error.
    Full,
    /// The effect API: run until nothing can run; the caller classifies.
    Quiesce,
}

impl Machine {
    /// The initial machine for a program: `main` ready at the entry function.
    pub fn new(program: Rc<Program>) -> VmResult<Machine> {
        let limits = program.limits.clone();
        let entry = &program.functions[program.entry as usize];
        if entry.register_count as i64 > limits.max_registers_per_frame as i64 {
            return err(
                ErrorCode::InvalidRegister,
                format!("Entry function {} exceeded maxRegistersPerFrame", entry.id),
            );
        }
        let main = Process::new(
            Str::new("main"),
            program.entry,
            entry.register_count,
            Vec::new(),
            0,
        );
        let core = Core {
            state: program.state.clone(),
            input: Rc::new(program.input.clone()),
            performance_mode: program.performance_mode,
            tracing: false,
            coalesce_slices: true,
            scalar_loop: true,
            steps: 0,
            step_limit: limits.max_steps.max(0) as u64,
            limits,
            events: Vec::new(),
            outbox: Vec::new(),
            trace: Trace::default(),
            trace_truncated: false,
            proof: Vec::new(),
            proof_truncated: false,
            hook_depth: 0,
            db_cache: Default::default(),
            program,
        };
        let mut by_pid = BTreeMap::new();
        by_pid.insert(Str::new("main"), 0);
        Ok(Machine {
            core,
            procs: vec![main],
            by_pid,
            ready: VecDeque::from([0]),
            next_pid_seq: 0,
            tick: 0,
            current: None,
            nodes: BTreeMap::new(),
            live: 1,
            sched: Default::default(),
        })
    }

    /// Starts a fresh `maxSteps` budget from the current step count.
    pub fn reset_step_budget(&mut self) {
        self.core.step_limit = self.core.steps + self.core.limits.max_steps.max(0) as u64;
    }

    /// Looks a process up by pid.
    pub fn slot_of(&self, pid: &str) -> Option<usize> {
        self.by_pid.get(pid).copied()
    }

    /// Runs until the program ends (`Full`) or nothing can run (`Quiesce`).
    pub fn run(&mut self, mode: Mode) -> VmResult<()> {
        crate::process::rebuild_index(self);
        loop {
            let Some(slot) = self.ready.pop_front() else {
                if mode == Mode::Full && matches!(self.procs[0].status, Status::Completed(_)) {
                    return Ok(());
                }
                if self.advance_tick() {
                    continue;
                }
                // Between slices with an empty queue, every live process waits.
                if mode == Mode::Full && self.live > 0 {
                    return err(
                        ErrorCode::ProcessDeadlock,
                        "All processes are waiting but no ready processes",
                    );
                }
                return Ok(());
            };
            self.current = Some(self.procs[slot].pid.clone());
            if self.procs[slot].status == Status::Ready {
                self.procs[slot].status = Status::Running;
                let budget = self.core.limits.max_process_steps_per_slice.max(0) as u64;
                if let Err(e) = self.run_slice(slot, budget, self.core.coalesce_slices) {
                    if slot == 0 || e.code == ErrorCode::StepLimitExceeded {
                        return Err(e);
                    }
                    if self.procs[slot].status.is_terminal() {
                        // Taken down by its failing instruction before the
                        // error (e.g. an exit signal): finish that termination.
                        self.finish_termination(slot);
                    } else {
                        // A runtime error fails only the spawned process.
                        self.terminate(slot, Status::Failed(e));
                    }
                }
            }
            self.after_slice(slot)?;
        }
    }

    /// The slice epilogue (`PROCESSES.md` §2.5).
    fn after_slice(&mut self, slot: usize) -> VmResult<()> {
        let p = &mut self.procs[slot];
        if let Status::Completed(v) = &p.status {
            p.result = Some(v.clone());
        }
        if matches!(p.status, Status::Running | Status::Ready) {
            p.status = Status::Ready;
            self.ready.push_back(slot);
        }
        self.wake_joiners(slot);
        self.check_main_ended()
    }

    /// `main` cancelled or taken down through a link fails the run (`DECISIONS.md`).
    pub fn check_main_ended(&self) -> VmResult<()> {
        match &self.procs[0].status {
            Status::Cancelled(_) => err(ErrorCode::ProcessCancelled, "main was cancelled"),
            Status::Failed(e) => Err(e.clone()),
            Status::Exited(r) if self.procs[0].killed_by_signal => {
                err(ErrorCode::ProcessCancelled, format!("main exited ({r})"))
            }
            _ => Ok(()),
        }
    }

    /// Wakes every process waiting to join `slot` (after each of its slices),
    /// in ascending pid order (indexed: no table scan).
    pub fn wake_joiners(&mut self, slot: usize) {
        crate::process::sched::wake_joiners(self, slot);
    }

    /// Advances the logical clock to the earliest sleeper and wakes every
    /// sleeper due then, in ascending pid order (indexed: no table scan).
    /// False when nobody sleeps.
    fn advance_tick(&mut self) -> bool {
        crate::process::sched::advance_tick(self)
    }

    /// Ends a process with a terminal status and notifies observers at once
    /// (nothing happens to a process that has already terminated).
    pub fn terminate(&mut self, slot: usize, status: Status) {
        debug_assert!(status.is_terminal());
        crate::process::terminate(self, slot, status);
    }

    /// The value printed as `result`: main's completion value, else its stored result, else unit.
    pub fn main_result(&self) -> Value {
        let main = &self.procs[0];
        match &main.status {
            Status::Completed(v) => v.clone(),
            _ => main.result.clone().unwrap_or(Value::Unit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Trace;
    use proptest::prelude::*;

    fn record(steps: &[(u32, u32)]) -> Trace {
        let mut t = Trace::default();
        for &(f, pc) in steps {
            t.push(f, pc);
        }
        t
    }

    proptest! {
        /// Runs and repeats give back every step, in order: steps made of
        /// straight segments (function, first pc, length) repeated.
        #[test]
        fn trace_gives_back_every_step(
            segments in proptest::collection::vec((0u32..2, 0u32..6, 1u32..5, 1u32..4), 0..40)
        ) {
            let steps: Vec<(u32, u32)> = segments
                .iter()
                .flat_map(|&(f, pc, n, k)| (0..k).flat_map(move |_| (pc..pc + n).map(move |p| (f, p))))
                .collect();
            let t = record(&steps);
            prop_assert_eq!(t.iter().collect::<Vec<_>>(), steps.clone());
            prop_assert_eq!(t.len(), steps.len());
            prop_assert_eq!(t.last(), steps.last().copied());
        }
    }

    proptest! {
        /// `push_run` records what as many `push`es record.
        #[test]
        fn push_run_is_repeated_push(
            runs in proptest::collection::vec((0u32..2, 0u32..6, 0u32..5), 0..40)
        ) {
            let mut t = Trace::default();
            let mut steps = Vec::new();
            for &(f, pc, n) in &runs {
                t.push_run(f, pc, n);
                steps.extend((pc..pc + n).map(|p| (f, p)));
            }
            prop_assert_eq!(&t, &record(&steps));
        }

        /// `push_runs` records what as many `push_run`s record.
        #[test]
        fn push_runs_is_repeated_push_run(
            runs in proptest::collection::vec((0u32..2, 0u32..6, 0u32..5, 0u32..6), 0..30)
        ) {
            let (mut t, mut u) = (Trace::default(), Trace::default());
            for &(f, pc, n, k) in &runs {
                t.push_runs(f, pc, n, k);
                for _ in 0..k {
                    u.push_run(f, pc, n);
                }
            }
            prop_assert_eq!(&t, &u);
        }
    }

    /// A repeat count that would pass `u32::MAX` starts a new run.
    #[test]
    fn push_runs_saturates_the_repeat_count() {
        let mut t = Trace::default();
        t.push_runs(0, 4, 2, u32::MAX);
        t.push_runs(0, 4, 2, 3);
        assert_eq!(t.len(), 2 * (u32::MAX as usize + 3));
        assert_eq!(t.last(), Some((0, 5)));
        assert_eq!(
            t.iter().take(5).collect::<Vec<_>>(),
            [(0, 4), (0, 5), (0, 4), (0, 5), (0, 4)]
        );
    }

    /// A loop that takes the same path every iteration costs one run.
    #[test]
    fn a_repeated_loop_body_is_one_run() {
        let mut steps = vec![(0, 0), (0, 1)];
        for _ in 0..1000 {
            steps.extend((4..10).map(|pc| (0, pc)));
        }
        steps.extend([(0, 4), (0, 5), (0, 10)]);
        let t = record(&steps);
        assert!(t.runs.len() <= 4, "{:?}", t.runs);
        assert_eq!(t.iter().collect::<Vec<_>>(), steps);
    }
}
