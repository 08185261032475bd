//! The process around both binaries: hardening against memory disclosure
//! (no core dumps, no ptrace, optionally no swap), and the daemon's I/O
//! runtime sized and scheduled by `[exec]`.
use crate::exec::{ExecConfig, IoScheduling};

/// Keeps key material out of core dumps and away from ptrace by other
/// users: no core files, not dumpable.
pub fn harden_process() {
    // SAFETY: plain libc calls with valid arguments and no pointers kept.
    #[allow(unsafe_code)]
    unsafe {
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &zero);
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

/// `[security] lock_memory`: locks every page of the process, now and
/// later (`mlockall(MCL_CURRENT | MCL_FUTURE)`), so unwrapped keys and the
/// KEK are never written to swap.
///
/// Without `CAP_IPC_LOCK` the locked memory is capped by `RLIMIT_MEMLOCK`,
/// and once the cap is reached every later allocation would fail at run
/// time: so unless the limit is unlimited (systemd `LimitMEMLOCK=infinity`)
/// or the process has `CAP_IPC_LOCK`, this refuses up front.
///
/// # Errors
/// The limit is finite without `CAP_IPC_LOCK`, or `mlockall` fails; the
/// message names the remedy.
pub fn lock_memory() -> anyhow::Result<()> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit we own.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
    if rc != 0 {
        anyhow::bail!(
            "[security] lock_memory: cannot read RLIMIT_MEMLOCK: {}",
            std::io::Error::last_os_error()
        );
    }
    if limit.rlim_cur != libc::RLIM_INFINITY && !has_cap_ipc_lock() {
        anyhow::bail!(
            "[security] lock_memory: locked memory is limited to {} bytes (RLIMIT_MEMLOCK) and \
             the process lacks CAP_IPC_LOCK, so allocations would fail once it is reached; set \
             LimitMEMLOCK=infinity in the unit (or `ulimit -l unlimited`), or grant \
             CAP_IPC_LOCK",
            limit.rlim_cur
        );
    }
    // SAFETY: plain libc call, no pointers.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if rc != 0 {
        anyhow::bail!(
            "[security] lock_memory: mlockall failed: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Whether `CAP_IPC_LOCK` (bit 14) is in the effective set
/// (`/proc/self/status`, `CapEff`).
fn has_cap_ipc_lock() -> bool {
    const CAP_IPC_LOCK: u32 = 14;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_IPC_LOCK) != 0)
}

/// The I/O runtime of the daemon (`[exec] io_threads`, `io_scheduling`).
///
/// Crypto runs on the `exec` pool (one thread per core), so the reactor needs
/// fewer threads than there are cores: by default half the cores, at least
/// one. More reactor threads than that only compete with the signers for the
/// same cores and add cross-thread wake-ups to every request.
///
/// On Linux the reactor threads are `SCHED_BATCH` by default. Under load the
/// signing threads keep every core busy; a normally scheduled reactor thread
/// preempts one of them at every wake-up (each new connection, each finished
/// signature), which costs two context switches per request. As
/// `SCHED_BATCH` it waits for the next scheduling point instead and then
/// handles all that arrived meanwhile. On an idle core it runs at once, so
/// only a saturated server sees the (sub-millisecond) delay. Measured in
/// BENCHMARKS.md ("Scheduling the network threads").
pub fn runtime(exec: &ExecConfig) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder
        .enable_all()
        .thread_name("signatrust-io")
        .worker_threads(exec.io_threads);
    if exec.io_scheduling == IoScheduling::Batch {
        // Also applies to tokio's blocking threads (key loads), which are
        // CPU work too.
        builder.on_thread_start(|| {
            if let Err(e) = set_batch_scheduling() {
                tracing::warn!(error = %e, "cannot set SCHED_BATCH on a network thread");
            }
        });
    }
    builder.build()
}

/// Puts the calling thread into the `SCHED_BATCH` class (allowed without
/// privileges). A no-op outside Linux.
fn set_batch_scheduling() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is a valid sched_param for the call's duration;
        // pid 0 is the calling thread.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn policy_on_runtime(scheduling: IoScheduling) -> (i32, i32) {
        let exec = ExecConfig {
            workers: 1,
            io_threads: 2,
            io_scheduling: scheduling,
            ..ExecConfig::default()
        };
        let rt = runtime(&exec).unwrap();
        // SAFETY: plain query of the calling thread's policy.
        #[allow(unsafe_code)]
        let policy = || unsafe { libc::sched_getscheduler(0) };
        let worker = rt.block_on(async { tokio::spawn(async move { policy() }).await.unwrap() });
        let blocking = rt.block_on(async { tokio::task::spawn_blocking(policy).await.unwrap() });
        (worker, blocking)
    }

    #[test]
    fn network_threads_are_batch_scheduled_unless_configured_otherwise() {
        assert_eq!(
            policy_on_runtime(IoScheduling::Batch),
            (libc::SCHED_BATCH, libc::SCHED_BATCH)
        );
        assert_eq!(
            policy_on_runtime(IoScheduling::Normal),
            (libc::SCHED_OTHER, libc::SCHED_OTHER)
        );
    }
}
