//! Effect handlers (`HOST.md` §6) and their registry.
//!
//! Two kinds of handler exist:
//! - a [`Handler`] is `Send + Sync` and sees plain JSON (the reference's
//!   `valueToJs` view of the payload, with the pending key merged in, see
//!   [`crate::convert::handler_arg`]). The driver runs these concurrently, on
//!   worker threads: HTTP, logging, transports.
//! - a [`LocalHandler`] runs on the driver's own thread, in request order,
//!   and sees the VM [`Value`] itself: the host-side database and cache
//!   ([`StoreHandler`]), whose results depend on the order of operations.
//!
//! Every handler also declares what may happen to an effect *in doubt*
//! ([`InDoubt`]): one whose intent was journaled but whose result was not,
//! because the host stopped while performing it.

pub mod http;
pub mod transport;

use crate::journal::Kind;
use crate::store::Store;
use finvm::Value;
use serde_json::Value as J;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

pub use http::HttpHandler;
pub use transport::{LoopbackTransport, Transport, TransportHandler, TRANSPORT_TYPES};

/// What the driver may do with an effect found in doubt when a live run
/// restarts from its journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InDoubt {
    /// Performing it again is safe (it is a pure read, a log line, local
    /// state rebuilt from the journal, or a request whose idempotency key the
    /// remote side deduplicates): the driver performs it again.
    Retry,
    /// Performing it again could duplicate a side effect: the driver stops
    /// with [`crate::HostError::InDoubt`] and an operator settles it
    /// (`finvm journal resolve`).
    Fail,
}

/// Everything a handler learns about one effect. `Send`, so it can travel to
/// a worker thread.
#[derive(Clone, Debug)]
pub struct Request {
    /// The journal index of the effect.
    pub index: u64,
    /// `await_reply` or `transport`.
    pub kind: Kind,
    /// The awaiting pid (or the transport payload's pid).
    pub pid: String,
    /// The awaited key (`None` for transport).
    pub key: Option<String>,
    /// The intent type.
    pub type_: String,
    /// The payload as plain JSON with the key merged in (`HOST.md` §4.2).
    pub arg: J,
    /// The payload as tagless Value JSON, exactly as journaled.
    pub payload: J,
    /// `finvm-<run nonce>-<index>`: the same on every attempt of this
    /// effect, different for every other effect of every run.
    pub idempotency_key: String,
    /// 1 on the first attempt; 2, 3, … when an in-doubt effect is performed
    /// again.
    pub attempt: u32,
}

/// A thread-safe handler: plain JSON in, plain JSON out (converted with
/// `jsToValue` and journaled).
pub trait Handler: Send + Sync {
    /// Performs the effect. An error aborts the live run (the reference's
    /// "first rejection aborts `runLive`").
    fn perform(&self, req: &Request) -> Result<J, String>;

    /// Whether this effect may be performed again when found in doubt.
    /// The default is the safe answer: no.
    fn in_doubt(&self, _req: &Request) -> InDoubt {
        InDoubt::Fail
    }
}

/// A handler that runs on the driver thread with VM values (not `Send`).
pub trait LocalHandler {
    /// Performs the effect; the payload is the pending item's payload.
    fn perform(&mut self, req: &Request, payload: &Value) -> Result<Value, String>;

    /// Whether this effect may be performed again when found in doubt.
    fn in_doubt(&self, _req: &Request) -> InDoubt {
        InDoubt::Fail
    }

    /// Called, in journal order, for every effect of this handler that a
    /// restarted live run takes from the journal instead of performing it,
    /// so that local state can be rebuilt (`recorded` is its journaled
    /// result). The default does nothing.
    fn restore(
        &mut self,
        _req: &Request,
        _payload: &Value,
        _recorded: &Value,
    ) -> Result<(), String> {
        Ok(())
    }
}

/// A registered handler.
#[derive(Clone)]
pub enum HandlerRef {
    /// Runs on a worker thread.
    Shared(Arc<dyn Handler>),
    /// Runs on the driver thread.
    Local(Rc<RefCell<dyn LocalHandler>>),
}

impl HandlerRef {
    /// The handler's in-doubt policy for a request.
    pub fn in_doubt(&self, req: &Request) -> InDoubt {
        match self {
            HandlerRef::Shared(h) => h.in_doubt(req),
            HandlerRef::Local(h) => h.borrow().in_doubt(req),
        }
    }
}

/// Handlers by intent type (`createRegistry`): exact types first, then the
/// longest matching registered prefix (e.g. `db.` for every `db.*` effect).
#[derive(Clone, Default)]
pub struct Registry {
    exact: BTreeMap<String, HandlerRef>,
    prefixes: Vec<(String, HandlerRef)>,
    in_doubt_override: Option<InDoubt>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Registers a thread-safe handler for one intent type.
    pub fn register(&mut self, type_: &str, h: Arc<dyn Handler>) -> &mut Registry {
        self.exact.insert(type_.to_string(), HandlerRef::Shared(h));
        self
    }

    /// Registers a driver-thread handler for one intent type.
    pub fn register_local(
        &mut self,
        type_: &str,
        h: Rc<RefCell<dyn LocalHandler>>,
    ) -> &mut Registry {
        self.exact.insert(type_.to_string(), HandlerRef::Local(h));
        self
    }

    /// Registers a handler for every type starting with `prefix`.
    pub fn register_prefix(&mut self, prefix: &str, h: HandlerRef) -> &mut Registry {
        self.prefixes.retain(|(p, _)| p != prefix);
        self.prefixes.push((prefix.to_string(), h));
        self.prefixes.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        self
    }

    /// Registers a handler built from a closure (`createMockHandlers`).
    pub fn register_fn<F>(&mut self, type_: &str, f: F) -> &mut Registry
    where
        F: Fn(&Request) -> Result<J, String> + Send + Sync + 'static,
    {
        self.register(type_, Arc::new(FnHandler(f, InDoubt::Fail)))
    }

    /// Registers a transport for every distribution intent type
    /// ([`TRANSPORT_TYPES`]).
    pub fn set_transport(&mut self, t: Arc<dyn Transport>) -> &mut Registry {
        let h: Arc<dyn Handler> = Arc::new(TransportHandler(t));
        for ty in TRANSPORT_TYPES {
            self.register(ty, h.clone());
        }
        self
    }

    /// Overrides every handler's in-doubt policy (for instance `Retry` when
    /// every remote side deduplicates by idempotency key).
    pub fn set_in_doubt_override(&mut self, p: Option<InDoubt>) -> &mut Registry {
        self.in_doubt_override = p;
        self
    }

    /// The effective in-doubt policy for a request.
    pub fn in_doubt(&self, h: &HandlerRef, req: &Request) -> InDoubt {
        self.in_doubt_override.unwrap_or_else(|| h.in_doubt(req))
    }

    /// The handler for an intent type.
    pub fn lookup(&self, type_: &str) -> Option<HandlerRef> {
        if let Some(h) = self.exact.get(type_) {
            return Some(h.clone());
        }
        self.prefixes
            .iter()
            .find(|(p, _)| type_.starts_with(p.as_str()))
            .map(|(_, h)| h.clone())
    }

    /// The registered exact types and prefixes (prefixes end in `*`).
    pub fn types(&self) -> Vec<String> {
        let mut v: Vec<String> = self.exact.keys().cloned().collect();
        v.extend(self.prefixes.iter().map(|(p, _)| format!("{p}*")));
        v
    }
}

/// A closure as a [`Handler`].
pub struct FnHandler<F>(pub F, pub InDoubt);

impl<F> Handler for FnHandler<F>
where
    F: Fn(&Request) -> Result<J, String> + Send + Sync,
{
    fn perform(&self, req: &Request) -> Result<J, String> {
        (self.0)(req)
    }

    fn in_doubt(&self, _req: &Request) -> InDoubt {
        self.1
    }
}

/// `sys.log`: writes `message` (or `""`) to a sink, returns `true`. Logging
/// twice is harmless, so an in-doubt log line is written again.
pub struct LogHandler {
    sink: Box<dyn Fn(&str) + Send + Sync>,
}

impl LogHandler {
    /// Logs to standard error (standard output carries the run's JSON).
    pub fn stderr() -> LogHandler {
        LogHandler::new(|m| eprintln!("{m}"))
    }

    /// Logs to a custom sink.
    pub fn new(sink: impl Fn(&str) + Send + Sync + 'static) -> LogHandler {
        LogHandler {
            sink: Box::new(sink),
        }
    }
}

impl Handler for LogHandler {
    fn perform(&self, req: &Request) -> Result<J, String> {
        let msg = match req.arg.get("message") {
            None | Some(J::Null) => String::new(),
            Some(J::String(s)) => s.clone(),
            Some(other) => crate::convert::js_string(other),
        };
        (self.sink)(&msg);
        Ok(J::Bool(true))
    }

    fn in_doubt(&self, _req: &Request) -> InDoubt {
        InDoubt::Retry
    }
}

/// `output.save`: returns `payload ?? value ?? <the whole payload>` (the
/// reference's plain host, which has no sealing storage). Pure, so retried.
pub struct OutputSaveHandler;

impl Handler for OutputSaveHandler {
    fn perform(&self, req: &Request) -> Result<J, String> {
        let pick = |k: &str| req.arg.get(k).filter(|v| !v.is_null()).cloned();
        Ok(pick("payload")
            .or_else(|| pick("value"))
            .unwrap_or_else(|| req.arg.clone()))
    }

    fn in_doubt(&self, _req: &Request) -> InDoubt {
        InDoubt::Retry
    }
}

/// The host-side database and cache: every `db.*` and `cache.*` effect goes
/// to a [`Store`], on the driver thread, in request order.
///
/// Each effect is applied with [`Store::handle_once`] under its idempotency
/// key, which records the result in the effect's own store transaction: an
/// effect found in doubt after a crash is simply performed again, and a
/// persistent store answers the second attempt with the recorded result
/// instead of applying it twice. A store in memory (`persistent == false`)
/// dies with the process; a restarted live run rebuilds it by applying the
/// journaled store effects again, in order, checking each against its
/// journaled result.
pub struct StoreHandler {
    store: Store,
    persistent: bool,
}

impl StoreHandler {
    /// Wraps a store; `persistent` says whether it outlives the process.
    pub fn new(store: Store, persistent: bool) -> StoreHandler {
        StoreHandler { store, persistent }
    }

    /// The store.
    pub fn store(&mut self) -> &mut Store {
        &mut self.store
    }
}

/// The effect types the store handles.
pub const STORE_TYPES: [&str; 12] = [
    "db.insert",
    "db.get",
    "db.update",
    "db.delete",
    "db.query",
    "db.createIndex",
    "db.hash",
    "db.commit",
    "cache.set",
    "cache.get",
    "cache.delete",
    "cache.clear",
];

impl LocalHandler for StoreHandler {
    fn perform(&mut self, req: &Request, payload: &Value) -> Result<Value, String> {
        self.store
            .handle_once(&req.idempotency_key, &req.type_, payload)
    }

    fn in_doubt(&self, _req: &Request) -> InDoubt {
        InDoubt::Retry
    }

    fn restore(&mut self, req: &Request, payload: &Value, recorded: &Value) -> Result<(), String> {
        if self.persistent {
            return Ok(());
        }
        let got = self
            .store
            .handle_once(&req.idempotency_key, &req.type_, payload)?;
        if &got != recorded {
            return Err(format!(
                "rebuilding the store: {} gives {}, the journal recorded {}",
                req.type_,
                finvm::value::json::value_to_json(&got),
                finvm::value::json::value_to_json(recorded)
            ));
        }
        Ok(())
    }
}

/// Options of [`Registry::builtin`].
#[derive(Clone, Debug)]
pub struct BuiltinOptions {
    /// Default timeout of an HTTP request (a payload's `timeoutMs` wins).
    pub http_timeout: std::time::Duration,
    /// Whether `http.get` / `http.post` may be performed again when in
    /// doubt (the remote side deduplicates by the `Idempotency-Key` header).
    pub http_retry_in_doubt: bool,
}

impl Default for BuiltinOptions {
    fn default() -> BuiltinOptions {
        BuiltinOptions {
            http_timeout: std::time::Duration::from_secs(30),
            http_retry_in_doubt: false,
        }
    }
}

impl Registry {
    /// The built-in live handlers (`createLiveHandlers`): `http.get`,
    /// `http.post`, `sys.log` (to standard error), `output.save`, and the
    /// `db.*` / `cache.*` effects ([`STORE_TYPES`]) on `store`. Add a transport with
    /// [`Registry::set_transport`].
    pub fn builtin(opts: &BuiltinOptions, store: StoreHandler) -> Registry {
        let mut r = Registry::new();
        let http = Arc::new(HttpHandler::new(
            opts.http_timeout,
            opts.http_retry_in_doubt,
        ));
        r.register("http.get", http.clone());
        r.register("http.post", http);
        r.register("sys.log", Arc::new(LogHandler::stderr()));
        r.register("output.save", Arc::new(OutputSaveHandler));
        let store: Rc<RefCell<dyn LocalHandler>> = Rc::new(RefCell::new(store));
        for ty in STORE_TYPES {
            if Store::handles(ty) {
                r.register_local(ty, store.clone());
            }
        }
        r
    }
}
