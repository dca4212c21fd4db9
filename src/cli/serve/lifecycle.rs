//! What runs beside the server: the shutdown signal, and fitting the number of connections to
//! the process's file descriptors.

use tracing::warn;

pub(super) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// File descriptors kept for the store, outgoing connections and files, beyond client
/// connections.
const RESERVED_FDS: u64 = 256;

/// Raises the soft file-descriptor limit to the hard one, and lowers `wanted` connections to
/// what then fits, so that a flood of connections cannot starve the store of descriptors.
pub(super) fn fit_connections(wanted: usize) -> usize {
    let limit = raise_fd_limit();
    let fits = usize::try_from(limit.saturating_sub(RESERVED_FDS).max(16)).unwrap_or(usize::MAX);
    if wanted > fits {
        warn!(
            wanted,
            serving = fits,
            fd_limit = limit,
            "--max-connections lowered to fit the file-descriptor limit (raise LimitNOFILE / ulimit -n)"
        );
    }
    wanted.min(fits)
}

#[cfg(unix)]
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    lim.rlim_cur
}

#[cfg(not(unix))]
fn raise_fd_limit() -> u64 {
    u64::MAX
}
