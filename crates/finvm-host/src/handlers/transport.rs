//! Transport intents (`NODE_SEND`, `NODE_SPAWN`, `NODE_LINK`, …) through a
//! pluggable [`Transport`].
//!
//! A transport returns plain JSON; besides being journaled, the result may
//! carry *delivery hints* (`HOST.md` §5): `{"delivery": env}` or
//! `{"deliveries": [env, …]}` where `env` is `{pid, message}`,
//! `{pid, key, result}`, `{disconnect: {node, reason?}}` or
//! `{nodeStatus: {node, status, reason?, lastSeenTick?, lastStateHash?}}`.
//! The driver turns them into resume deliveries.

use super::{Handler, InDoubt, Request};
use serde_json::{json, Value as J};
use std::collections::BTreeSet;
use std::sync::Mutex;

/// The distribution intent types the VM emits.
pub const TRANSPORT_TYPES: [&str; 8] = [
    "RemoteSendIntent",
    "RemoteSpawnIntent",
    "RemoteLinkIntent",
    "RemoteUnlinkIntent",
    "RemoteMonitorIntent",
    "RemoteDemonitorIntent",
    "NodeObserveStateIntent",
    "NodeQueryStateIntent",
];

/// Carries distribution intents to other nodes.
pub trait Transport: Send + Sync {
    /// Handles one intent (`req.type_` is one of [`TRANSPORT_TYPES`]);
    /// returns the journaled result, possibly with delivery hints.
    fn send(&self, req: &Request) -> Result<J, String>;

    /// Whether an in-doubt intent may be sent again (default: no).
    fn in_doubt(&self, _req: &Request) -> InDoubt {
        InDoubt::Fail
    }
}

/// A [`Transport`] as a [`Handler`].
pub struct TransportHandler(pub std::sync::Arc<dyn Transport>);

impl Handler for TransportHandler {
    fn perform(&self, req: &Request) -> Result<J, String> {
        self.0.send(req)
    }

    fn in_doubt(&self, req: &Request) -> InDoubt {
        self.0.in_doubt(req)
    }
}

/// One message a [`LoopbackTransport`] accepted.
#[derive(Clone, Debug, PartialEq)]
pub struct SentMessage {
    /// Target node.
    pub node: String,
    /// Target pid on that node.
    pub pid: String,
    /// The message, plain JSON.
    pub message: J,
}

#[derive(Default)]
struct LoopState {
    sent: Vec<SentMessage>,
    down: BTreeSet<String>,
}

/// An in-memory transport for tests and single-machine runs: every node is
/// reachable unless marked down. Sends are recorded ([`LoopbackTransport::sent`])
/// and answered `true`; a spawn is acknowledged with `RemoteSpawnAck`
/// (`{requestId, pid}`) to the requester; links and monitors are accepted;
/// state queries report the node `online`. Anything aimed at a node that is
/// down reports it `offline` (reason `unreachable`), fails a spawn with
/// `RemoteSpawnFailed`, and breaks links and monitors with a `disconnect`.
/// Nothing leaves the process, so an in-doubt intent is simply sent again.
#[derive(Default)]
pub struct LoopbackTransport {
    state: Mutex<LoopState>,
}

impl LoopbackTransport {
    /// A transport where every node is up.
    pub fn new() -> LoopbackTransport {
        LoopbackTransport::default()
    }

    /// Marks a node down (`true`) or up again.
    pub fn set_down(&self, node: &str, down: bool) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if down {
            s.down.insert(node.to_string());
        } else {
            s.down.remove(node);
        }
    }

    /// The messages sent so far, in the order they were sent.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .sent
            .clone()
    }
}

fn field<'a>(arg: &'a J, k: &str) -> &'a str {
    arg.get(k).and_then(J::as_str).unwrap_or("")
}

impl Transport for LoopbackTransport {
    fn send(&self, req: &Request) -> Result<J, String> {
        let arg = &req.arg;
        let node = match arg {
            J::String(s) => s.as_str(),
            _ => field(arg, "node"),
        };
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let down = s.down.contains(node);
        let offline =
            json!({"nodeStatus": {"node": node, "status": "offline", "reason": "unreachable"}});
        Ok(match req.type_.as_str() {
            "RemoteSendIntent" => {
                if down {
                    json!({"delivery": offline})
                } else {
                    s.sent.push(SentMessage {
                        node: node.to_string(),
                        pid: field(arg, "pid").to_string(),
                        message: arg.get("message").cloned().unwrap_or(J::Null),
                    });
                    J::Bool(true)
                }
            }
            "RemoteSpawnIntent" => {
                let requester = field(arg, "requesterPid");
                let request_id = field(arg, "requestId");
                if down {
                    json!({"deliveries": [offline, {"pid": requester, "message": {"tag": "RemoteSpawnFailed",
                        "payload": {"reason": "unreachable", "requestId": request_id}}}]})
                } else {
                    json!({"deliveries": [{"pid": requester, "message": {"tag": "RemoteSpawnAck",
                        "payload": {"requestId": request_id, "pid": field(arg, "pid")}}}]})
                }
            }
            "RemoteLinkIntent" | "RemoteMonitorIntent" if down => {
                json!({"deliveries": [offline, {"disconnect": {"node": node, "reason": "noconnection"}}]})
            }
            "NodeObserveStateIntent" | "NodeQueryStateIntent" => {
                let status = if down { "offline" } else { "online" };
                json!({"delivery": {"nodeStatus": {"node": node, "status": status}}})
            }
            _ => J::Bool(true),
        })
    }

    fn in_doubt(&self, _req: &Request) -> InDoubt {
        InDoubt::Retry
    }
}
