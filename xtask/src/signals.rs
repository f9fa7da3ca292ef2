//! Ctrl-C and SIGTERM: remember the signal (signal-hook) so the executor can pass it on to the running
//! child, run the cleanup steps (remove containers it started) and exit 128 + signal.

use std::sync::atomic::{AtomicUsize, Ordering};

pub use signal_hook::consts::{SIGINT, SIGTERM};

static RECEIVED: AtomicUsize = AtomicUsize::new(0);

/// From now on SIGINT and SIGTERM no longer kill the kit; `received` reports them. A closed output
/// pipe (`cargo xtask stages | head`) ends the kit quietly, as it does other command line tools,
/// instead of a panic in `println!` (Rust ignores SIGPIPE unless told otherwise).
pub fn install() {
    for sig in [SIGINT, SIGTERM] {
        // Fails only for signals that cannot be caught, which these two are not.
        let _ = signal_hook::flag::register_usize(sig, &RECEIVED, sig as usize);
    }
    // SAFETY: restores the default action of one signal; no handler runs in our code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The signal received since the start, if any.
pub fn received() -> Option<i32> {
    Some(RECEIVED.load(Ordering::SeqCst) as i32).filter(|&sig| sig != 0)
}

/// Sends `sig` to a process the kit started (best effort: it may have exited already).
pub fn send(pid: u32, sig: i32) {
    // SAFETY: kill(2) takes plain integers; a failure (the process is gone) is harmless.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

pub fn name(sig: i32) -> &'static str {
    match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}
