//! # FinVM host
//!
//! The part of FinVM that touches the world (`HOST.md` §1–§7). The VM only
//! emits effect intents; this crate performs them for real, journals every
//! result durably, and replays a run later from its journal with zero I/O
//! and the same bytes out.
//!
//! - [`driver`]: [`run_live`] and [`run_replay`], the start / perform /
//!   deliver / resume loop;
//! - [`handlers`]: the [`Handler`] registry and the built-in handlers
//!   (`http.get`, `http.post`, `sys.log`, `output.save`, the `db.*`/`cache.*`
//!   store effects, transports);
//! - [`journal`]: the [`JournalStore`] trait and its file, SQLite and
//!   PostgreSQL backends;
//! - [`store`]: the host-side database behind `db.*` and `cache.*`;
//! - [`convert`]: value conversions (`valueToJs` / `jsToValue`).
//!
//! ## Crash safety and exactly-once
//!
//! For every round the live driver (1) journals the intents of the effects
//! it is about to perform, durably; (2) performs them; (3) journals each
//! result durably; (4) only then delivers the results to the VM. Killed at
//! any moment and restarted on the same journal, it replays every recorded
//! result without performing anything, and goes on live from there: no
//! effect with a recorded result is ever performed twice, and nothing
//! recorded is lost.
//!
//! An effect killed between (1) and (3) is *in doubt*: no host can know
//! whether a request that was on the wire reached its server. The driver
//! performs it again only when its handler says that is safe
//! ([`InDoubt::Retry`]): logs, the store (each store effect is applied under
//! its idempotency key, once), the in-memory transport, and HTTP when the
//! operator declares that the servers deduplicate by the `Idempotency-Key`
//! header the host sends (`--in-doubt retry`). Otherwise the run stops with
//! [`HostError::InDoubt`] naming the entry, and an operator records what
//! happened (`finvm journal resolve`): its result if it took effect, or a
//! retry mark if it did not. Either way the remote side sees each effect
//! once.

pub mod convert;
pub mod driver;
pub mod handlers;
pub mod journal;
pub mod store;

pub use driver::{
    run_live, run_replay, transport_deliveries, HostError, LiveOptions, RoundReport, RunReport,
    Stats, MAX_ROUNDS,
};
pub use handlers::{
    BuiltinOptions, Handler, HandlerRef, HttpHandler, InDoubt, LocalHandler, LogHandler,
    LoopbackTransport, Registry, Request, StoreHandler, Transport,
};
pub use journal::{open as open_journal, Intent, JournalError, JournalStore, Kind, OpenMode, Slot};
