//! The HTTP handler against a real server on 127.0.0.1: bodies, status,
//! headers, the idempotency key, timeouts and connection errors.

mod support;

use finvm_host::handlers::{Handler, HttpHandler, InDoubt, Request};
use finvm_host::Kind;
use serde_json::{json, Value as J};
use std::time::Duration;
use support::*;

fn req(type_: &str, arg: J) -> Request {
    Request {
        index: 7,
        kind: Kind::AwaitReply,
        pid: "main".into(),
        key: Some("k".into()),
        type_: type_.into(),
        arg,
        payload: J::Null,
        idempotency_key: "finvm-abc-7".into(),
        attempt: 1,
    }
}

#[test]
fn http_get_post_status_headers_timeouts() {
    let server = TestServer::start();
    let h = HttpHandler::new(Duration::from_secs(5), false);
    // GET: the body text, whatever the status (the reference's behaviour).
    let r = h
        .perform(&req(
            "http.get",
            json!({"url": format!("{}/quote/0", server.base)}),
        ))
        .unwrap();
    assert_eq!(r, json!("quote:0"));
    let r = h
        .perform(&req(
            "http.get",
            json!({"url": format!("{}/missing", server.base)}),
        ))
        .unwrap();
    assert_eq!(r, json!("nope"));
    // `response: "full"`: status, headers and body.
    let r = h
        .perform(&req(
            "http.get",
            json!({"url": format!("{}/missing", server.base), "response": "full"}),
        ))
        .unwrap();
    assert_eq!(r["status"], json!(404));
    assert_eq!(r["body"], json!("nope"));
    assert!(r["headers"]
        .as_object()
        .unwrap()
        .contains_key("content-length"));
    // POST: a string body as is, other bodies as JSON; headers passed; the
    // idempotency key added unless the payload sets one.
    h.perform(&req(
        "http.post",
        json!({"url": format!("{}/pay/1", server.base), "body": "abc", "headers": {"x-a": "1"}}),
    ))
    .unwrap();
    let r = h
        .perform(&req(
            "http.post",
            json!({"url": format!("{}/pay/2", server.base), "body": {"n": 2},
                   "headers": {"Idempotency-Key": "mine"}}),
        ))
        .unwrap();
    assert_eq!(r, json!(r#"paid:2:{"n":2}"#));
    let seen = server.seen();
    let posts: Vec<_> = seen.iter().filter(|s| s.method == "POST").collect();
    assert_eq!(posts[0].body, "abc");
    assert_eq!(posts[0].idempotency_key.as_deref(), Some("finvm-abc-7"));
    assert_eq!(posts[1].idempotency_key.as_deref(), Some("mine"));
    // A timeout (the quote sleeps 90 ms) is an error.
    let e = h
        .perform(&req(
            "http.get",
            json!({"url": format!("{}/quote/9", server.base), "timeoutMs": 20}),
        ))
        .unwrap_err();
    assert!(
        e.contains("http.get") && e.to_lowercase().contains("timeout"),
        "{e}"
    );
    // Bad payloads.
    assert!(h.perform(&req("http.get", json!({}))).is_err());
    // The in-doubt policy follows the option.
    assert_eq!(h.in_doubt(&req("http.get", json!({}))), InDoubt::Fail);
    assert_eq!(
        HttpHandler::new(Duration::from_secs(1), true).in_doubt(&req("http.get", json!({}))),
        InDoubt::Retry
    );
    // A refused connection is an error.
    let base = server.base.clone();
    server.stop();
    std::thread::sleep(Duration::from_millis(50));
    let e = h
        .perform(&req("http.get", json!({"url": format!("{base}/quote/0")})))
        .unwrap_err();
    assert!(e.starts_with("http.get http://127.0.0.1:"), "{e}");
}
