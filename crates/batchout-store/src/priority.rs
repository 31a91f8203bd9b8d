//! Background priority for the threads that do batchout's bulk CPU work, so
//! that when CPUs are short the task, and anything else on the node, comes
//! first (ADR 0008). On an idle machine a lowered thread still runs at full
//! speed: a nice value only orders threads that want the same CPU.

/// The nice value added by default (see [`crate::TransferOptions::nice`]).
pub(crate) const DEFAULT_NICE: u8 = 10;

/// The most that can be added: Linux's lowest priority is nice 19.
pub(crate) const MAX_NICE: u8 = 19;

/// Starts `work` on a thread of its own, named `name`, which runs `nice`
/// lower than the calling thread (Linux; elsewhere at the same priority).
///
/// A thread of its own, not one of the async runtime's blocking pool: the
/// priority stays with the thread, and the pool's threads are shared with the
/// application's own work.
///
/// # Errors
///
/// When the system cannot start another thread.
pub(crate) fn spawn_lowered(
    name: &str,
    nice: u8,
    work: impl FnOnce() + Send + 'static,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            lower_this_thread(nice);
            work();
        })
        .map(drop)
}

/// Adds `nice` to the calling thread's nice value (up to 19). Failing to is
/// only logged: the work goes on at the priority it has.
fn lower_this_thread(nice: u8) {
    if nice == 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        // On Linux, each thread has its own nice value, named by its thread id.
        let thread = Some(rustix::thread::gettid());
        let lowered = getpriority_process(thread).and_then(|now| {
            let wanted = (now + i32::from(nice)).min(i32::from(MAX_NICE));
            setpriority_process(thread, wanted)
        });
        if let Err(e) = lowered {
            tracing::debug!(error = %e, "cannot lower this thread's priority");
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The nice value of the calling thread.
    fn own_nice() -> i32 {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).expect("getpriority")
    }

    fn nice_of_spawned(nice: u8) -> (i32, String) {
        let (sender, receiver) = std::sync::mpsc::channel();
        spawn_lowered("batchout-test", nice, move || {
            let name = std::thread::current().name().unwrap_or_default().to_owned();
            sender.send((own_nice(), name)).expect("send");
        })
        .expect("a thread");
        receiver.recv().expect("the thread's answer")
    }

    #[test]
    fn spawned_threads_run_lower_by_what_is_asked_and_callers_are_untouched() {
        let before = own_nice();
        let (lowered, name) = nice_of_spawned(5);
        assert_eq!(lowered, (before + 5).min(19));
        assert_eq!(name, "batchout-test");
        assert_eq!(
            nice_of_spawned(0).0,
            before,
            "0 leaves the priority as it is"
        );
        assert_eq!(nice_of_spawned(MAX_NICE).0, 19, "nice is capped at 19");
        assert_eq!(own_nice(), before, "the calling thread keeps its priority");
    }
}
