//! The async runtime the command runs on, and how many threads it has.

use tokio::runtime::{Builder, Runtime};

/// The variable that sets how many threads run the async work (network
/// transfers, TLS, HTTP framing); file work always has threads of its own.
pub const THREADS_ENV: &str = "BATCHOUT_THREADS";

/// The most threads accepted.
const MAX_THREADS: usize = 256;

/// How many threads run the async work: `from_env` (the value of
/// [`THREADS_ENV`], if set), else one for a remote store on a machine of up to
/// two cores, else one per core.
///
/// One thread is the default for remote stores on small machines because there
/// handing every network read from the thread that received it to another cost
/// more CPU than the second thread gave, and saved no time. The local store
/// keeps two: saving many small files into it is slower when the walk and the
/// copies' bookkeeping share one thread. On larger machines the threads let
/// TLS and HTTP framing of many transfers spread over the cores. Decision 0006
/// (`docs/decisions/0006-transfer-patterns.md`, "The async runtime's threads")
/// has the figures.
///
/// # Errors
///
/// What to write instead, for a value that is not a whole number from 1 to 256.
pub fn threads(from_env: Option<&str>, cores: usize, local: bool) -> Result<usize, String> {
    let Some(text) = from_env.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(if cores <= 2 && !local {
            1
        } else {
            cores.max(2)
        });
    };
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
        _ => Err(format!(
            "{text:?} is not a thread count; give a whole number from 1 to {MAX_THREADS}"
        )),
    }
}

/// A runtime with `threads` threads for async work: the calling thread alone
/// for one, else that many workers.
///
/// # Errors
///
/// When the operating system refuses the threads or the I/O driver.
pub fn build(threads: usize) -> std::io::Result<Runtime> {
    let mut builder = if threads <= 1 {
        Builder::new_current_thread()
    } else {
        let mut builder = Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder.enable_all().build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_thread_for_remote_stores_up_to_two_cores_then_one_per_core() {
        assert_eq!(threads(None, 1, false), Ok(1));
        assert_eq!(threads(None, 2, false), Ok(1));
        assert_eq!(threads(None, 3, false), Ok(3));
        assert_eq!(threads(None, 64, false), Ok(64));
        assert_eq!(threads(Some(" "), 64, false), Ok(64));
        assert_eq!(threads(None, 1, true), Ok(2));
        assert_eq!(threads(None, 2, true), Ok(2));
        assert_eq!(threads(None, 8, true), Ok(8));
    }

    #[test]
    fn the_variable_wins_within_its_range() {
        assert_eq!(threads(Some("4"), 2, false), Ok(4));
        assert_eq!(threads(Some(" 1 "), 64, true), Ok(1));
        for bad in ["0", "-1", "two", "257", "1.5"] {
            let err = threads(Some(bad), 2, false).unwrap_err();
            assert!(err.contains("from 1 to 256"), "{bad}: {err}");
        }
    }

    #[test]
    fn both_kinds_of_runtime_run_work_and_blocking_work() {
        for n in [1, 3] {
            let runtime = build(n).expect("a runtime");
            let got = runtime.block_on(async {
                let spawned = tokio::spawn(async { 20 }).await.expect("task");
                let blocking = tokio::task::spawn_blocking(|| 22).await.expect("blocking");
                spawned + blocking
            });
            assert_eq!(got, 42, "{n} threads");
        }
    }
}
