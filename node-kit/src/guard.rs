//! The front door of every HTTP server: refuses cross-site and DNS-rebinding requests,
//! sheds load beyond a concurrency limit and bounds each request's time.
//!
//! - **DNS rebinding**: a page on `evil.example` that re-points its name at 127.0.0.1
//!   reaches a loopback server with `Host: evil.example`. A server bound to loopback
//!   accepts only loopback names (`localhost`, `127.0.0.1`, `[::1]`) and the names it is
//!   configured with; a server bound elsewhere accepts IP literals and its configured
//!   names (any name when none is configured). Else 421 `bad_host`.
//! - **Cross-site requests (CSRF)**: browsers mark cross-origin requests with `Origin`
//!   and `Sec-Fetch-Site`. A request whose `Origin` is not an accepted host, or that a
//!   browser labels `cross-site`/`same-site`, is refused with 403 `cross_origin`. JSON
//!   APIs ([`json_only`]) also refuse the content types a browser may post cross-site
//!   without a preflight (`text/plain`, forms) with 415 `bad_content_type`.
//! - **Load**: at most `max_concurrent` requests are served at once; beyond that the
//!   answer is an immediate 503 `overloaded` with `Retry-After`, never a queue.
//! - **Time**: a request still running after `request_timeout` is answered 503
//!   `timeout` (its handler is dropped).
//! - **Per client**: each untrusted client address has a bucket of cost units (see
//!   [`crate::clients`]); a request takes one at the door, handlers charge more, and a
//!   client over its rate waits or gets 429 `rate_limited`. The request's
//!   [`ClientMeter`] is [`ClientMeter::current`] while it is served.
//!
//! Refusals are JSON `{"error": kind, "message": text}` like the servers' own errors.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tokio::sync::Semaphore;

use crate::clients::{ClientLimits, ClientMeter, Meters};
use crate::http::json_error;

/// Default most requests served at once per server.
pub const DEFAULT_MAX_CONCURRENT: usize = 512;
/// Default most time per request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

/// Limits of one HTTP server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// Host names (no port) accepted besides the bound address's own (and, on loopback,
    /// the loopback names): the names clients use to reach the server.
    pub allowed_hosts: Vec<String>,
    /// Requests served at once; more are refused with 503.
    pub max_concurrent: usize,
    /// Most time per request.
    pub request_timeout: Duration,
    /// Per-client rate limits and trusted networks.
    pub clients: ClientLimits,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            clients: ClientLimits::default(),
        }
    }
}

struct Guard {
    bound: SocketAddr,
    allowed: Vec<String>,
    slots: Arc<Semaphore>,
    timeout: Duration,
    meters: Arc<Meters>,
}

/// Serves `router` behind the guard on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: &HttpLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    let app = guard(router, listener.local_addr()?, limits);
    // Answers go out as soon as they are written: with Nagle's algorithm a response's
    // second segment waits for the client's delayed ACK (40 ms on Linux) per request.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// `router` behind the guard, for a server bound to `bound`.
pub fn guard(router: Router, bound: SocketAddr, limits: &HttpLimits) -> Router {
    let g = Arc::new(Guard {
        bound,
        allowed: limits
            .allowed_hosts
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect(),
        slots: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
        timeout: limits.request_timeout,
        meters: Meters::new(limits.clients.clone()),
    });
    router.layer(middleware::from_fn_with_state(g, check))
}

/// `router` as a JSON API: requests with a body in a content type a browser may post
/// cross-site without a preflight (`text/plain`, forms) are refused with 415.
pub fn json_only(router: Router) -> Router {
    router.layer(middleware::from_fn(check_json))
}

async fn check_json(req: Request, next: Next) -> Response {
    match json_content(req.method(), req.headers()) {
        Ok(()) => next.run(req).await,
        Err(r) => *r,
    }
}

fn json_content(method: &Method, headers: &HeaderMap) -> Result<(), Box<Response>> {
    if matches!(*method, Method::GET | Method::HEAD) {
        return Ok(());
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim();
    if matches!(
        essence,
        "text/plain" | "application/x-www-form-urlencoded" | "multipart/form-data"
    ) {
        return Err(Box::new(json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "bad_content_type",
            format!("content type {essence:?} is not accepted; use application/json"),
        )));
    }
    Ok(())
}

async fn check(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    if let Err(r) = g.admit(req.headers()) {
        return *r;
    }
    // A server run without connection info (a router under test) has no client address:
    // its requests are not metered.
    let meter = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(ClientMeter::trusted, |c| g.meters.meter(c.0.ip()));
    if let Err(t) = meter.admit(1).await {
        let mut r = json_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", t.to_string());
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(t.retry_after_secs()));
        return r;
    }
    meter.scope(serve_admitted(g, req, next)).await
}

async fn serve_admitted(g: Arc<Guard>, req: Request, next: Next) -> Response {
    let Ok(_slot) = g.slots.clone().try_acquire_owned() else {
        let mut r = json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many requests in progress; retry shortly",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    };
    match tokio::time::timeout(g.timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!("request took longer than {:?}", g.timeout),
        ),
    }
}

impl Guard {
    fn admit(&self, headers: &HeaderMap) -> Result<(), Box<Response>> {
        match self.refusal(headers) {
            None => Ok(()),
            Some((status, kind, message)) => Err(Box::new(json_error(status, kind, message))),
        }
    }

    /// Why a request is refused, if it is.
    fn refusal(&self, headers: &HeaderMap) -> Option<(StatusCode, &'static str, String)> {
        let text = |name| {
            headers
                .get(name)
                .map(|v: &HeaderValue| v.to_str().unwrap_or("null"))
        };
        let host = text(header::HOST).unwrap_or("");
        if !self.host_ok(host) {
            let why = format!("host {host:?} is not a name of this server");
            return Some((StatusCode::MISDIRECTED_REQUEST, "bad_host", why));
        }
        let site = HeaderName::from_static("sec-fetch-site");
        let cross = match text(header::ORIGIN) {
            // The origin's host: `scheme://host[:port]`; `null` and garbage never match.
            Some(origin) => (!self.host_ok(origin.split_once("://").map_or("", |(_, h)| h)))
                .then(|| format!("requests from origin {origin:?} are refused")),
            None => matches!(text(site), Some("cross-site" | "same-site"))
                .then(|| "cross-site requests are refused".to_string()),
        };
        cross.map(|why| (StatusCode::FORBIDDEN, "cross_origin", why))
    }

    /// Whether `host` (`name[:port]`, `[v6][:port]`) names this server.
    fn host_ok(&self, host: &str) -> bool {
        let name = host_name(host).to_ascii_lowercase();
        if name.is_empty() {
            return false;
        }
        if self.allowed.contains(&name) {
            return true;
        }
        let ip = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        if self.bound.ip().is_loopback() {
            name == "localhost" || ip.is_some_and(|ip| ip.is_loopback())
        } else {
            // Reachable from elsewhere: IP literals, and any name unless names are set.
            ip.is_some() || self.allowed.is_empty()
        }
    }
}

/// The name part of a `Host` value.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((v6, _)) => &host[..v6.len() + 2],
            None => "",
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(bound: &str, allowed: &[&str]) -> Guard {
        Guard {
            bound: bound.parse().unwrap(),
            allowed: allowed.iter().map(|s| s.to_string()).collect(),
            slots: Arc::new(Semaphore::new(1)),
            timeout: Duration::from_secs(1),
            meters: Meters::new(ClientLimits::default()),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn loopback_servers_accept_loopback_names_only() {
        let g = g("127.0.0.1:8545", &["rpc.internal"]);
        for ok in [
            "127.0.0.1:8545",
            "localhost:8545",
            "localhost",
            "[::1]:8545",
            "RPC.internal:80",
        ] {
            assert!(g.host_ok(ok), "{ok}");
        }
        for bad in [
            "evil.example:8545",
            "evil.example",
            "",
            "10.0.0.1:8545",
            "[::1",
        ] {
            assert!(!g.host_ok(bad), "{bad}");
        }
        let r = g
            .admit(&headers(&[("host", "attacker.test:8545")]))
            .unwrap_err();
        assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST);
    }

    #[test]
    fn exposed_servers_accept_ips_and_configured_names() {
        let open = g("0.0.0.0:3100", &[]);
        assert!(open.host_ok("da.example.org:3100"));
        let named = g("0.0.0.0:3100", &["da.example.org"]);
        assert!(named.host_ok("da.example.org:3100"));
        assert!(named.host_ok("192.0.2.7:3100"));
        assert!(!named.host_ok("evil.example:3100"));
    }

    #[test]
    fn cross_site_browser_requests_are_refused() {
        let g = g("127.0.0.1:8545", &[]);
        let host = ("host", "127.0.0.1:8545");
        let r = g
            .admit(&headers(&[host, ("origin", "https://evil.example")]))
            .unwrap_err();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = g.admit(&headers(&[host, ("origin", "null")])).unwrap_err();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = g
            .admit(&headers(&[host, ("sec-fetch-site", "cross-site")]))
            .unwrap_err();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // Same origin (a page served by this server) is fine.
        g.admit(&headers(&[host, ("origin", "http://127.0.0.1:8545")]))
            .unwrap();
    }

    #[test]
    fn json_apis_refuse_browser_postable_content_types() {
        for ct in [
            "text/plain",
            "text/plain;charset=UTF-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            let r = json_content(&Method::POST, &headers(&[("content-type", ct)])).unwrap_err();
            assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}");
        }
        json_content(&Method::POST, &headers(&[])).unwrap();
        json_content(
            &Method::POST,
            &headers(&[("content-type", "application/json")]),
        )
        .unwrap();
        json_content(&Method::GET, &headers(&[("content-type", "text/plain")])).unwrap();
    }

    #[test]
    fn host_names_without_ports() {
        assert_eq!(host_name("a.b:80"), "a.b");
        assert_eq!(host_name("a.b"), "a.b");
        assert_eq!(host_name("[::1]:80"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
        assert_eq!(host_name("[::1"), "");
    }
}
