//! Running herald as a service: reload ([`reload`]), reading herald's own files off the async
//! runtime ([`blocking`]), log lines that stay one line ([`logs`]), throttled logging
//! ([`LogThrottle`]), and the networks and secret comparison the admin routes use.

pub mod blocking;
pub mod logs;
pub mod reload;

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// At most one log line per window for a kind of event that anyone can cause (unsigned
/// requests, say), so that a flood of them cannot flood the log. Counts what it holds back.
#[derive(Debug)]
pub struct LogThrottle {
    window_ms: i64,
    next: AtomicI64,
    suppressed: AtomicU64,
}

impl LogThrottle {
    pub fn new(window: Duration) -> LogThrottle {
        LogThrottle {
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
            next: AtomicI64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` if a line may be logged now, `n` being how many were held back since the last
    /// one; `None` if this one is held back.
    pub fn allow(&self) -> Option<u64> {
        let now = jiff::Timestamp::now().as_millisecond();
        let next = self.next.load(Ordering::Relaxed);
        if now >= next
            && self
                .next
                .compare_exchange(
                    next,
                    now.saturating_add(self.window_ms),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

/// A network in CIDR notation, such as `127.0.0.0/8` or `::1/128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

/// Text that is not an address or a network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    #[error("{0:?} is not an address or a network like 10.0.0.0/8")]
    Address(String),
    #[error("{0:?}: bad prefix length")]
    Prefix(String),
}

impl std::str::FromStr for Net {
    type Err = NetError;

    fn from_str(s: &str) -> Result<Net, NetError> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| NetError::Address(s.to_string()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| NetError::Prefix(s.to_string()))?,
            None => max,
        };
        Ok(Net { addr, prefix })
    }
}

impl Net {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Compares in constant time whatever the lengths, so a token cannot be guessed byte by byte
/// (nor its length) from timings: the two SHA-256 digests are compared with `subtle`.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    use sha2::Digest;
    use subtle::ConstantTimeEq;
    sha2::Sha256::digest(a)
        .ct_eq(&sha2::Sha256::digest(b))
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_contain_their_addresses() {
        let cases = [
            ("127.0.0.0/8", "127.0.0.2", true),
            ("127.0.0.1/32", "127.0.0.2", false),
            ("10.0.0.0/8", "10.200.1.1", true),
            ("::1/128", "::1", true),
            ("127.0.0.0/8", "::ffff:127.0.0.1", true),
            ("0.0.0.0/0", "8.8.8.8", true),
        ];
        for (net, ip, expected) in cases {
            let net: Net = net.parse().unwrap();
            assert_eq!(net.contains(ip.parse().unwrap()), expected, "{net:?} {ip}");
        }
        assert!("10.0.0.0/33".parse::<Net>().is_err());
    }

    #[test]
    fn a_throttle_lets_one_line_through_per_window_and_counts_the_rest() {
        let t = LogThrottle::new(Duration::from_secs(3600));
        assert_eq!(t.allow(), Some(0));
        assert_eq!(t.allow(), None);
        assert_eq!(t.allow(), None);
        t.next.store(0, Ordering::Relaxed);
        assert_eq!(t.allow(), Some(2));
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
    }
}
