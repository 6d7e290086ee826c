//! `http.get` and `http.post` over a real HTTP client (ureq: blocking,
//! connection pooling, TLS through rustls with the webpki roots).
//!
//! Payload fields (plain JSON view):
//!
//! | field | meaning |
//! |---|---|
//! | `url` | required, `http://` or `https://` |
//! | `headers` | optional object of header values (`http.post` defaults to `content-type: application/json`, as the reference does) |
//! | `body` | `http.post` only: a string is sent as is, anything else as its JSON text; absent: empty |
//! | `timeoutMs` | optional whole-request timeout in milliseconds (default: the handler's, 30 s) |
//! | `response` | `"full"` returns `{status, headers, body}`; by default the result is the body text, whatever the status (the reference's behaviour) |
//!
//! Every request carries `Idempotency-Key: finvm-<run nonce>-<index>`
//! (unless the payload sets one): the same on every attempt of one effect,
//! so a server that deduplicates by it applies an effect once even if the
//! host performs it again after a crash.
//!
//! A transport failure (DNS, refused connection, timeout, TLS) is a handler
//! error, which stops the live run; the effect is then in doubt.

use super::{Handler, InDoubt, Request};
use serde_json::{Map, Value as J};
use std::time::Duration;

/// The HTTP handler for `http.get` / `http.post` (the type picks the method).
pub struct HttpHandler {
    agent: ureq::Agent,
    timeout: Duration,
    retry_in_doubt: bool,
}

/// The header name carrying the effect's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

impl HttpHandler {
    /// A client with a default whole-request timeout. `retry_in_doubt`
    /// declares that the servers it talks to deduplicate by
    /// [`IDEMPOTENCY_HEADER`], so an in-doubt request may be sent again.
    pub fn new(timeout: Duration, retry_in_doubt: bool) -> HttpHandler {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .user_agent(concat!("finvm-host/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        HttpHandler {
            agent,
            timeout,
            retry_in_doubt,
        }
    }
}

fn header_value(v: &J) -> String {
    match v {
        J::String(s) => s.clone(),
        other => crate::convert::js_string(other),
    }
}

impl Handler for HttpHandler {
    fn perform(&self, req: &Request) -> Result<J, String> {
        let post = match req.type_.as_str() {
            "http.get" => false,
            "http.post" => true,
            other => return Err(format!("HttpHandler cannot perform '{other}'")),
        };
        let arg = &req.arg;
        let url = arg
            .get("url")
            .and_then(J::as_str)
            .ok_or_else(|| format!("{}: payload needs a string 'url'", req.type_))?;
        let timeout = match arg.get("timeoutMs") {
            None | Some(J::Null) => self.timeout,
            Some(v) => Duration::from_millis(
                v.as_u64()
                    .ok_or_else(|| format!("{}: timeoutMs must be a whole number", req.type_))?,
            ),
        };
        let mut headers: Vec<(String, String)> = match arg.get("headers") {
            None | Some(J::Null) if post => {
                vec![("content-type".into(), "application/json".into())]
            }
            None | Some(J::Null) => Vec::new(),
            Some(J::Object(h)) => h
                .iter()
                .map(|(k, v)| (k.clone(), header_value(v)))
                .collect(),
            Some(_) => return Err(format!("{}: headers must be an object", req.type_)),
        };
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(IDEMPOTENCY_HEADER))
        {
            headers.push((IDEMPOTENCY_HEADER.into(), req.idempotency_key.clone()));
        }
        let full = arg.get("response").and_then(J::as_str) == Some("full");
        let fail = |e: ureq::Error| format!("{} {url}: {e}", req.type_);
        let mut resp = if post {
            let body = match arg.get("body") {
                None | Some(J::Null) => String::new(),
                Some(J::String(s)) => s.clone(),
                Some(other) => crate::convert::json_text(other),
            };
            let mut rb = self.agent.post(url);
            for (k, v) in &headers {
                rb = rb.header(k.as_str(), v.as_str());
            }
            rb.config()
                .timeout_global(Some(timeout))
                .build()
                .send(body)
                .map_err(fail)?
        } else {
            let mut rb = self.agent.get(url);
            for (k, v) in &headers {
                rb = rb.header(k.as_str(), v.as_str());
            }
            rb.config()
                .timeout_global(Some(timeout))
                .build()
                .call()
                .map_err(fail)?
        };
        let status = resp.status().as_u16();
        let mut hdrs = Map::new();
        if full {
            for (k, v) in resp.headers() {
                hdrs.insert(
                    k.as_str().to_string(),
                    J::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
                );
            }
        }
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(fail)?;
        if full {
            let mut m = Map::new();
            m.insert("status".into(), J::from(status));
            m.insert("headers".into(), J::Object(hdrs));
            m.insert("body".into(), J::String(body));
            Ok(J::Object(m))
        } else {
            Ok(J::String(body))
        }
    }

    fn in_doubt(&self, _req: &Request) -> InDoubt {
        if self.retry_in_doubt {
            InDoubt::Retry
        } else {
            InDoubt::Fail
        }
    }
}
