//! What keeps other web pages from using herald through someone's browser: the status page
//! (`/ui/`) and the admin API (`/-/reload`) answer only to `Host` names herald is known by
//! (a page that rebinds its own name to 127.0.0.1 is refused, 421), never inside a frame, never
//! to a cross-site request; signing in gives a random session id, not the admin token; and a
//! peer that keeps failing is slowed down and logged once a minute with a count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use parking_lot::Mutex;

use crate::ops::Net;

/// How long a sign-in lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; the oldest goes first.
const MAX_SESSIONS: usize = 1024;
/// Failures (wrong sign-ins, refused requests) a peer may have in a minute before it is refused
/// at once until the minute is over.
pub const FAILURES_PER_MINUTE: u32 = 10;
const MINUTE: Duration = Duration::from_secs(60);
/// Peers remembered at most: past that, the oldest windows are forgotten.
const MAX_PEERS: usize = 10_000;

pub struct Browsers {
    /// Names allowed in `Host`, lowercase, without a port: `--public-url`'s and
    /// `--allowed-host`'s, besides `localhost` and IP addresses.
    hosts: Vec<String>,
    /// Proxies whose `X-Forwarded-Proto` is believed.
    proxies: Vec<Net>,
    /// Session ids by their SHA-256, until when: a lookup by digest compares no secret byte by
    /// byte, and costs one hash whatever the number of sessions.
    sessions: Mutex<HashMap<[u8; 32], Instant>>,
    peers: Mutex<HashMap<IpAddr, Window>>,
}

/// A peer's failures in the current minute.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
    /// Failures not logged since the line that was.
    held_back: u64,
}

/// What to do about a failure: whether to log it (with how many were held back before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Log {
    Now { held_back: u64 },
    HeldBack,
}

impl Browsers {
    pub fn new(hosts: Vec<String>, proxies: Vec<Net>) -> Browsers {
        let hosts = hosts.iter().map(|h| normalize(h)).collect();
        Browsers {
            hosts,
            proxies,
            sessions: Mutex::new(HashMap::new()),
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// The `Host` the request names, when herald is not known by it.
    pub fn foreign_host<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let name = normalize(host);
        let known = name == "localhost"
            || name.ends_with(".localhost")
            || name
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok()
            || self.hosts.contains(&name);
        (!known).then_some(host)
    }

    /// Whether the request came to the proxy in front of herald over https.
    pub fn over_https(&self, peer: IpAddr, headers: &HeaderMap) -> bool {
        let proto = headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        proto.eq_ignore_ascii_case("https") && self.proxies.iter().any(|n| n.contains(peer))
    }

    /// A new session id, valid for [`SESSION_LIFETIME`].
    pub fn start_session(&self) -> String {
        let mut id = [0u8; 32];
        getrandom::fill(&mut id).expect("the system's random source");
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let key = digest(&id);
        let mut sessions = self.sessions.lock();
        let now = Instant::now();
        sessions.retain(|_, until| *until > now);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions.iter().min_by_key(|(_, u)| **u).map(|(k, _)| *k)
        {
            sessions.remove(&oldest);
        }
        sessions.insert(key, now + SESSION_LIFETIME);
        id
    }

    /// Whether `id` names a session that has not expired.
    pub fn session(&self, id: &str) -> bool {
        let sessions = self.sessions.lock();
        sessions
            .get(&digest(id))
            .is_some_and(|until| *until > Instant::now())
    }

    /// Whether `peer` failed too often this minute and is to be refused at once.
    pub fn blocked(&self, peer: IpAddr) -> bool {
        let peers = self.peers.lock();
        peers
            .get(&peer)
            .is_some_and(|w| w.started.elapsed() < MINUTE && w.failures >= FAILURES_PER_MINUTE)
    }

    /// One more failure of `peer`'s: whether to log it now.
    pub fn failed(&self, peer: IpAddr) -> Log {
        let mut peers = self.peers.lock();
        if peers.len() >= MAX_PEERS && !peers.contains_key(&peer) {
            peers.retain(|_, w| w.started.elapsed() < MINUTE);
        }
        let window = peers.entry(peer).or_insert(Window {
            started: Instant::now(),
            failures: 0,
            held_back: 0,
        });
        if window.started.elapsed() >= MINUTE {
            let held_back = window.held_back;
            *window = Window {
                started: Instant::now(),
                failures: 1,
                held_back: 0,
            };
            return Log::Now { held_back };
        }
        window.failures = window.failures.saturating_add(1);
        if window.failures == 1 {
            return Log::Now { held_back: 0 };
        }
        window.held_back += 1;
        Log::HeldBack
    }
}

fn digest(id: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(id.as_bytes()).into()
}

/// `Herald.Example.com.:8080` is `herald.example.com`; `[::1]:8080` is `[::1]`.
fn normalize(host: &str) -> String {
    let host = host.trim();
    let name = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') && host[..i].matches(':').count() == 0 => &host[..i],
        Some(i) if host.starts_with('[') && host[..i].ends_with(']') => &host[..i],
        _ => host,
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The browser says the request was made by another site: `Sec-Fetch-Site: cross-site`, or an
/// `Origin` that is not this host.
pub fn cross_site(headers: &HeaderMap) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if fetch_site == Some("cross-site") {
        return true;
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => {
            let origin_host = origin.split("://").nth(1).unwrap_or(origin);
            !origin_host.eq_ignore_ascii_case(host)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, value.parse().unwrap());
        h
    }

    #[test]
    fn herald_answers_to_its_own_names_only() {
        let b = Browsers::new(vec!["herald.example.com".into()], Vec::new());
        for known in [
            "localhost:8080",
            "127.0.0.1:8080",
            "[::1]:8080",
            "10.0.0.5",
            "Herald.Example.com.",
            "herald.example.com:443",
            "app.localhost",
        ] {
            assert_eq!(b.foreign_host(&host(known)), None, "{known}");
        }
        for foreign in [
            "evil.example",
            "herald.example.com.evil.example:8080",
            "localhost.evil",
        ] {
            assert_eq!(b.foreign_host(&host(foreign)), Some(foreign), "{foreign}");
        }
        assert!(b.foreign_host(&HeaderMap::new()).is_some());
    }

    #[test]
    fn sessions_are_random_and_known_only_to_this_process() {
        let b = Browsers::new(Vec::new(), Vec::new());
        let (one, two) = (b.start_session(), b.start_session());
        assert_ne!(one, two);
        assert_eq!(one.len(), 64);
        assert!(b.session(&one) && b.session(&two));
        assert!(!b.session("admin-token") && !b.session(""));
    }

    #[test]
    fn a_failing_peer_is_logged_once_a_minute_and_then_blocked() {
        let b = Browsers::new(Vec::new(), Vec::new());
        let peer: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(b.failed(peer), Log::Now { held_back: 0 });
        for _ in 1..FAILURES_PER_MINUTE {
            assert!(!b.blocked(peer));
            assert_eq!(b.failed(peer), Log::HeldBack);
        }
        assert!(b.blocked(peer));
        assert!(!b.blocked("192.0.2.2".parse().unwrap()));
    }
}
