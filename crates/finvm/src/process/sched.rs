//! Scheduler indexes: who sleeps until which tick, who joins whom, who
//! monitors whom, and where each `p<n>` lives.
//!
//! The indexes let the scheduler avoid scanning the process table: a slice
//! epilogue, a tick advance, a termination and a pid lookup each cost time
//! proportional to the processes they concern. They are derived data: every
//! entry is checked against the process it names before it is acted upon
//! (a stale entry is skipped), and [`rebuild`] recomputes them from the
//! process table (after a snapshot was restored).

use crate::machine::{Machine, MonitorTarget, Status, Wait};
use crate::value::Str;
use std::collections::{BTreeMap, BTreeSet};

/// The scheduler's indexes over the process table.
#[derive(Clone, Debug, Default)]
pub struct Sched {
    /// Sleepers as (wake tick, pid, slot): ascending tick, then pid.
    pub(crate) sleepers: BTreeSet<(i64, Str, usize)>,
    /// Target slot → its joiners as (pid, slot), in ascending pid order.
    pub(crate) joiners: BTreeMap<usize, BTreeSet<(Str, usize)>>,
    /// Target slot → local monitors on it as (observer pid, ref, observer
    /// slot): ascending observer pid, then ref (the DOWN delivery order).
    pub(crate) monitored_by: BTreeMap<usize, BTreeSet<(Str, Str, usize)>>,
    /// Spawn number n → slot of `p<n>` (`usize::MAX` when unknown).
    pub(crate) seq_slots: Vec<usize>,
}

/// The spawn number of a pid of the form `p<n>` (canonical decimal).
fn pid_seq(pid: &str) -> Option<usize> {
    let digits = pid.strip_prefix('p')?;
    if digits.is_empty()
        || digits.len() > 18
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    digits.parse().ok()
}

/// The slot of the table process `pid`. O(1) for spawned pids.
pub fn lookup(m: &Machine, pid: &str) -> Option<usize> {
    if let Some(n) = pid_seq(pid) {
        if let Some(&s) = m.sched.seq_slots.get(n) {
            if m.procs.get(s).is_some_and(|p| p.pid.as_str() == pid) {
                return Some(s);
            }
        }
    }
    m.by_pid.get(pid).copied()
}

/// Whether spawn number `n` belongs in the dense `seq_slots` index of a
/// table of `procs` processes. The VM numbers spawns consecutively, so its
/// own pids always do; a larger number (from a tampered snapshot's
/// `nextPidSequence` or pid) must not size an allocation, and is looked up
/// through `by_pid` instead (regression
/// `regression_fuzz_snapshot_huge_next_pid_sequence`).
fn dense(procs: usize, n: usize) -> bool {
    n <= procs.saturating_mul(2).saturating_add(1024)
}

/// Records that `pid` now lives in `slot` (a spawn).
pub(crate) fn note_spawn(m: &mut Machine, pid: &str, slot: usize) {
    if let Some(n) = pid_seq(pid).filter(|n| dense(m.procs.len(), *n)) {
        let v = &mut m.sched.seq_slots;
        if v.len() <= n {
            v.resize(n + 1, usize::MAX);
        }
        v[n] = slot;
    }
}

/// Sets a waiting process Ready and appends it to the ready queue.
#[inline]
pub(crate) fn make_ready(m: &mut Machine, slot: usize) {
    m.procs[slot].status = Status::Ready;
    m.ready.push_back(slot);
}

/// Parks process `slot` until logical tick `t`.
pub(crate) fn sleep_until(m: &mut Machine, slot: usize, t: i64) {
    let pid = m.procs[slot].pid.clone();
    m.procs[slot].status = Status::Waiting(Wait::Tick(t));
    m.sched.sleepers.insert((t, pid, slot));
}

/// Parks process `slot` until process `target` ends a slice.
pub(crate) fn join_wait(m: &mut Machine, slot: usize, target: usize) {
    let pid = m.procs[slot].pid.clone();
    let tpid = m.procs[target].pid.clone();
    m.procs[slot].status = Status::Waiting(Wait::Process(tpid));
    m.sched
        .joiners
        .entry(target)
        .or_default()
        .insert((pid, slot));
}

/// Records a local monitor `mref` held by `observer` on `target`.
pub(crate) fn note_monitor(m: &mut Machine, observer: usize, mref: Str, target: usize) {
    let pid = m.procs[observer].pid.clone();
    m.sched
        .monitored_by
        .entry(target)
        .or_default()
        .insert((pid, mref, observer));
}

/// Forgets a local monitor `mref` held by `observer` on `target`.
pub(crate) fn forget_monitor(m: &mut Machine, observer: usize, mref: &Str, target: usize) {
    let pid = m.procs[observer].pid.clone();
    if let Some(set) = m.sched.monitored_by.get_mut(&target) {
        set.remove(&(pid, mref.clone(), observer));
        if set.is_empty() {
            m.sched.monitored_by.remove(&target);
        }
    }
}

/// Drops the wait-index entry of process `slot` (called before its status
/// leaves a Waiting state other than by a wake-up).
pub(crate) fn unindex_wait(m: &mut Machine, slot: usize) {
    let p = &m.procs[slot];
    match &p.status {
        Status::Waiting(Wait::Tick(t)) => {
            let key = (*t, p.pid.clone(), slot);
            m.sched.sleepers.remove(&key);
        }
        Status::Waiting(Wait::Process(target)) => {
            let key = (p.pid.clone(), slot);
            if let Some(ts) = lookup(m, target) {
                if let Some(set) = m.sched.joiners.get_mut(&ts) {
                    set.remove(&key);
                    if set.is_empty() {
                        m.sched.joiners.remove(&ts);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Wakes every process waiting to join `target`, in ascending pid order.
pub fn wake_joiners(m: &mut Machine, target: usize) {
    let Some(set) = m.sched.joiners.remove(&target) else {
        return;
    };
    let tpid = m.procs[target].pid.clone();
    for (pid, s) in set {
        let valid = m.procs.get(s).is_some_and(|p| {
            p.pid == pid && matches!(&p.status, Status::Waiting(Wait::Process(t)) if *t == tpid)
        });
        if valid {
            make_ready(m, s);
        }
    }
}

/// When nothing is ready: moves the logical clock to the earliest sleeper's
/// tick and wakes every sleeper due then, in ascending pid order. False when
/// nobody sleeps.
pub fn advance_tick(m: &mut Machine) -> bool {
    let valid = |m: &Machine, e: &(i64, Str, usize)| {
        m.procs.get(e.2).is_some_and(|p| {
            p.pid == e.1 && matches!(p.status, Status::Waiting(Wait::Tick(x)) if x == e.0)
        })
    };
    let t = loop {
        let Some(first) = m.sched.sleepers.first() else {
            return false;
        };
        if valid(m, first) {
            break first.0;
        }
        m.sched.sleepers.pop_first();
    };
    m.tick = t;
    while m.sched.sleepers.first().is_some_and(|e| e.0 <= t) {
        let e = m.sched.sleepers.pop_first().expect("non-empty");
        if valid(m, &e) {
            make_ready(m, e.2);
        }
    }
    true
}

/// Recomputes every index and the live count from the process table (after
/// a snapshot was restored; also done at the start of every run).
pub fn rebuild(m: &mut Machine) {
    let mut sched = Sched::default();
    let mut live = 0;
    for (pid, &slot) in &m.by_pid {
        if let Some(n) = pid_seq(pid).filter(|n| dense(m.procs.len(), *n)) {
            if sched.seq_slots.len() <= n {
                sched.seq_slots.resize(n + 1, usize::MAX);
            }
            sched.seq_slots[n] = slot;
        }
    }
    for (pid, &slot) in &m.by_pid {
        let p = &m.procs[slot];
        if !p.status.is_terminal() {
            live += 1;
        }
        match &p.status {
            Status::Waiting(Wait::Tick(t)) => {
                sched.sleepers.insert((*t, pid.clone(), slot));
            }
            Status::Waiting(Wait::Process(target)) => {
                if let Some(&ts) = m.by_pid.get(target.as_str()) {
                    sched
                        .joiners
                        .entry(ts)
                        .or_default()
                        .insert((pid.clone(), slot));
                }
            }
            _ => {}
        }
        for (r, target) in &p.monitors {
            if let MonitorTarget::Local(t) = target {
                if let Some(&ts) = m.by_pid.get(t.as_str()) {
                    sched.monitored_by.entry(ts).or_default().insert((
                        pid.clone(),
                        r.clone(),
                        slot,
                    ));
                }
            }
        }
    }
    m.sched = sched;
    m.live = live;
}
