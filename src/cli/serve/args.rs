//! `herald serve`'s settings: every flag has an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::decode::parse_duration;
use crate::ops::Net;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub rules: crate::cli::RulesArg,
    #[command(flatten)]
    pub db: crate::cli::DbArg,
    /// Address and port to listen on (port 0 picks a free one).
    #[arg(
        long,
        env = "HERALD_LISTEN",
        hide_env_values = true,
        default_value = "127.0.0.1:8080",
        value_name = "ADDR"
    )]
    pub listen: SocketAddr,
    /// A file with webhook secrets, one per line (any one verifies). Secrets may also come from
    /// HERALD_WEBHOOK_SECRET, comma-separated.
    #[arg(
        long,
        env = "HERALD_WEBHOOK_SECRET_FILE",
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub webhook_secret_file: Option<PathBuf>,
    /// Accept unsigned webhooks when no secret is set. For trials on a laptop only.
    #[arg(long, env = "HERALD_ALLOW_UNSIGNED", hide_env_values = true)]
    pub allow_unsigned: bool,
    /// Largest webhook body accepted (bytes, or with KiB / MiB); larger ones get 413.
    #[arg(long, env = "HERALD_MAX_BODY", hide_env_values = true, default_value = "1MiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_body: usize,
    /// How many messages are sent at once, over all channels.
    #[arg(
        long,
        env = "HERALD_CONCURRENCY",
        hide_env_values = true,
        default_value_t = 64,
        value_name = "N"
    )]
    pub concurrency: usize,
    /// Threads that run herald's tasks (receiving, rendering, sending); by default one fewer
    /// than the machine's cores, at least one, leaving a core for the SQLite writer's thread
    /// and the database. See README, "When deliveries fall behind".
    #[arg(long, env = "HERALD_WORKERS", hide_env_values = true, value_parser = clap::value_parser!(u16).range(1..), value_name = "N")]
    pub workers: Option<u16>,
    /// How long an EventId is remembered, so that a repeat is delivered once.
    #[arg(long, env = "HERALD_DEDUP_WINDOW", hide_env_values = true, default_value = "7d", value_parser = parse_duration_arg, value_name = "DURATION")]
    pub dedup_window: Duration,
    /// How long events and finished deliveries are kept (at least the dedup window).
    #[arg(long, env = "HERALD_RETENTION", hide_env_values = true, default_value = "30d", value_parser = parse_duration_arg, value_name = "DURATION")]
    pub retention: Duration,
    /// How much of each message herald sends is kept with its attempt, for the status page
    /// and `herald deliveries --show-sent` (bytes, or with KiB / MiB; 0 keeps none).
    #[arg(long, env = "HERALD_KEEP_SENT", hide_env_values = true, default_value = "64KiB", value_parser = parse_size, value_name = "SIZE")]
    pub keep_sent: usize,
    /// A channel whose oldest due delivery has waited longer than this raises
    /// `herald.backlog.behind` (once, until it catches up).
    #[arg(long, env = "HERALD_BEHIND_AFTER", hide_env_values = true, default_value = "10m", value_parser = parse_duration_arg, value_name = "DURATION")]
    pub behind_after: Duration,
    /// Deliveries due and not yet sent above which /webhook answers 503 with Retry-After, so
    /// that SuperOffice retries later instead of herald taking events without bound (0, the
    /// default: no limit). See README, "A bounded backlog".
    #[arg(
        long,
        env = "HERALD_MAX_BACKLOG",
        hide_env_values = true,
        default_value_t = 0,
        value_name = "N"
    )]
    pub max_backlog: u64,
    /// How long a delivery being sent is reserved; if herald hangs, it is sent again after this
    /// (if it dies, sooner: see --instance-timeout). Keep it well above the channels' timeouts.
    #[arg(long, env = "HERALD_LEASE", hide_env_values = true, default_value = "60s", value_parser = parse_duration_arg, value_name = "DURATION")]
    pub lease: Duration,
    /// Addresses allowed to call POST /-/reload without the admin token (HERALD_ADMIN_TOKEN),
    /// comma-separated networks.
    /// An empty list allows no address: only the token.
    #[arg(
        long,
        env = "HERALD_ADMIN_ALLOW",
        hide_env_values = true,
        default_value = "127.0.0.0/8,::1/128",
        value_parser = parse_nets,
        value_name = "NETS"
    )]
    pub admin_allow: Nets,
    /// The address people open herald at (https://herald.example.com): its host name is one
    /// the status page and /-/reload answer to, besides localhost and IP addresses.
    #[arg(long, env = "HERALD_PUBLIC_URL", hide_env_values = true, value_parser = parse_public_url, value_name = "URL")]
    pub public_url: Option<url::Url>,
    /// More host names the status page and /-/reload answer to, comma-separated (a request
    /// naming another host gets 421: that is how a page that rebinds its own name to herald's
    /// address is refused).
    #[arg(
        long,
        env = "HERALD_ALLOWED_HOST",
        hide_env_values = true,
        value_delimiter = ',',
        value_name = "NAMES"
    )]
    pub allowed_host: Vec<String>,
    /// Proxies whose X-Forwarded-Proto herald believes (the sign-in cookie is Secure behind
    /// https), comma-separated networks.
    #[arg(
        long,
        env = "HERALD_TRUSTED_PROXIES",
        hide_env_values = true,
        default_value = "127.0.0.0/8,::1/128",
        value_parser = parse_nets,
        value_name = "NETS"
    )]
    pub trusted_proxies: Nets,
    /// Do not watch the rules file and templates for changes (SIGHUP and /-/reload still work).
    #[arg(long, env = "HERALD_NO_WATCH", hide_env_values = true)]
    pub no_watch: bool,
    /// Run the test files beside the rules (*.test.yaml, as `herald test`) at start and before
    /// every reload: rules that fail them are refused like a broken file.
    #[arg(long, env = "HERALD_TEST_ON_RELOAD", hide_env_values = true)]
    pub test_on_reload: bool,
    /// On SIGTERM or SIGINT, how long sends in flight may take to finish.
    #[arg(long, env = "HERALD_SHUTDOWN_GRACE", hide_env_values = true, default_value = "10s", value_parser = parse_duration_arg, value_name = "DURATION")]
    pub shutdown_grace: Duration,
    /// An instance (this one, or another replica on the same PostgreSQL database) that has not
    /// heartbeat for this long is taken for dead, and what it was sending is sent again.
    #[arg(long, env = "HERALD_INSTANCE_TIMEOUT", hide_env_values = true, default_value = "10s", value_parser = parse_duration_arg, value_name = "DURATION")]
    pub instance_timeout: Duration,
    /// PostgreSQL only: connections in the pool, per process.
    #[arg(
        long,
        env = "HERALD_DB_POOL",
        hide_env_values = true,
        default_value_t = 8,
        value_name = "N"
    )]
    pub db_pool: u32,
    /// PostgreSQL only: the longest a statement may run, and the longest to wait for a
    /// connection; past it the webhook gets 503 and SuperOffice tries again.
    #[arg(long, env = "HERALD_DB_TIMEOUT", hide_env_values = true, default_value = "5s", value_parser = parse_duration_arg, value_name = "DURATION")]
    pub db_timeout: Duration,
    /// How long a client may take to send a request's headers; also how long an idle
    /// keep-alive connection is kept.
    #[arg(long, env = "HERALD_HEADER_TIMEOUT", hide_env_values = true, default_value = "10s", value_parser = parse_duration_arg, value_name = "DURATION")]
    pub header_timeout: Duration,
    /// How long a client may take to send a webhook's body; a slower one gets 408.
    #[arg(long, env = "HERALD_BODY_TIMEOUT", hide_env_values = true, default_value = "10s", value_parser = parse_duration_arg, value_name = "DURATION")]
    pub body_timeout: Duration,
    /// A connection on which nothing moves either way for this long is closed.
    #[arg(long, env = "HERALD_IDLE_TIMEOUT", hide_env_values = true, default_value = "30s", value_parser = parse_duration_arg, value_name = "DURATION")]
    pub idle_timeout: Duration,
    /// Connections served at once; more wait until one closes. Lowered to fit the process's
    /// file-descriptor limit.
    #[arg(
        long,
        env = "HERALD_MAX_CONNECTIONS",
        hide_env_values = true,
        default_value_t = 4096,
        value_name = "N"
    )]
    pub max_connections: usize,
    /// Bytes of webhook bodies held at once, over all requests (bytes, or with KiB / MiB); a
    /// request that finds no room within the body timeout gets 503.
    #[arg(long, env = "HERALD_MAX_BODIES_IN_FLIGHT", hide_env_values = true, default_value = "32MiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_bodies_in_flight: usize,
}

/// Comma-separated networks; empty for none.
#[derive(Debug, Clone)]
pub struct Nets(pub Vec<Net>);

/// A value given to `herald serve` that is not what its flag takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    #[error("{0:?} is not an address like https://herald.example.com")]
    Url(String),
    #[error(transparent)]
    Net(#[from] crate::ops::NetError),
    #[error("{0:?} is not a duration like 500ms, 10s, 2m or 24h")]
    Duration(String),
    #[error("{0:?} is not a size like 1048576, 512KiB or 1MiB")]
    Size(String),
    #[error("{0:?}: unknown unit {1:?} (use KiB or MiB)")]
    Unit(String, String),
    #[error("{0:?} is too large")]
    TooLarge(String),
}

fn parse_public_url(s: &str) -> Result<url::Url, ArgError> {
    match url::Url::parse(s) {
        Ok(u) if u.host_str().is_some() => Ok(u),
        _ => Err(ArgError::Url(s.to_string())),
    }
}

fn parse_nets(s: &str) -> Result<Nets, ArgError> {
    let nets = s
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    Ok(Nets(nets))
}

fn parse_duration_arg(s: &str) -> Result<Duration, ArgError> {
    parse_duration(s).ok_or_else(|| ArgError::Duration(s.to_string()))
}

/// `1048576`, `512KiB`, `1MiB`, `2MB`.
pub fn parse_size(s: &str) -> Result<usize, ArgError> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: usize = number.parse().map_err(|_| ArgError::Size(s.to_string()))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1024,
        "m" | "mb" => 1_000_000,
        "mib" => 1024 * 1024,
        _ => return Err(ArgError::Unit(s.to_string(), unit.to_string())),
    };
    n.checked_mul(factor)
        .ok_or_else(|| ArgError::TooLarge(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_networks_may_be_none_for_a_token_only_policy() {
        assert!(parse_nets("").unwrap().0.is_empty());
        assert_eq!(parse_nets("127.0.0.0/8, ::1/128").unwrap().0.len(), 2);
        assert!(parse_nets("not-a-net").is_err());
    }

    #[test]
    fn sizes_parse_with_units_and_never_overflow() {
        assert_eq!(parse_size("1MiB"), Ok(1024 * 1024));
        assert_eq!(parse_size("512KiB"), Ok(512 * 1024));
        assert!(parse_size("99999999999999999999MiB").is_err());
        assert!(parse_size("18446744073709551615MiB").is_err());
    }
}
