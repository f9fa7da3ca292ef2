//! Ctrl-C and SIGTERM: remember the signal so the executor can pass it on to the running child,
//! run the cleanup steps (remove containers it started) and exit 128 + signal.
//! A few lines of FFI instead of a crate: the kit needs `signal(2)` and `kill(2)`, nothing more.

use std::sync::atomic::{AtomicI32, Ordering};

pub const SIGINT: i32 = 2;
pub const SIGTERM: i32 = 15;

static RECEIVED: AtomicI32 = AtomicI32::new(0);

#[cfg(unix)]
mod ffi {
    extern "C" {
        pub fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
        pub fn kill(pid: i32, sig: i32) -> i32;
    }
}

#[cfg(unix)]
extern "C" fn on_signal(sig: i32) {
    // Only an atomic store: anything else is not async-signal-safe.
    RECEIVED.store(sig, Ordering::SeqCst);
}

/// From now on SIGINT and SIGTERM no longer kill the kit; `received` reports them.
pub fn install() {
    #[cfg(unix)]
    // SAFETY: the handler only stores into an atomic.
    unsafe {
        ffi::signal(SIGINT, on_signal);
        ffi::signal(SIGTERM, on_signal);
    }
}

/// The signal received since the start, if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
}

/// Sends `sig` to a process (best effort: it may have exited already).
pub fn send(pid: u32, sig: i32) {
    #[cfg(unix)]
    // SAFETY: kill(2) with a pid we spawned; failure is harmless and ignored.
    unsafe {
        ffi::kill(pid as i32, sig);
    }
    #[cfg(not(unix))]
    let _ = (pid, sig);
}

pub fn name(sig: i32) -> &'static str {
    match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}
