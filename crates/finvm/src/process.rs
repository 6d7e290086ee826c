//! Process opcodes (`PROC_*`, `NODE_*`, `REMOTE_PID_*`) and termination
//! notices (`PROCESSES.md` §1, §3, §4 with `DECISIONS.md`).

use crate::error::{vm_error, ErrorCode, VmResult};
use crate::machine::Machine;
use crate::opcodes::Opcode;

/// Executes a process or distribution opcode for process `slot`; the step is
/// already counted. Advances the pc unless the instruction blocks or ends
/// the process.
pub fn exec(
    m: &mut Machine,
    slot: usize,
    op: Opcode,
    regs: &[u32],
    func: Option<u32>,
    flag: bool,
    int: i32,
) -> VmResult<()> {
    let _ = (m, slot, regs, func, flag, int);
    Err(vm_error(
        ErrorCode::InvalidInstruction,
        format!("{} is not implemented yet", op.name()),
    ))
}

/// Notifies observers that process `slot` just reached a terminal status:
/// DOWN to monitors, wake-up of joiners, exit signals through links.
pub fn on_terminated(m: &mut Machine, slot: usize) {
    m.wake_joiners(slot);
}
