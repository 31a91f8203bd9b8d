//! A queue of blocking file work, run by a few loops on tokio's blocking pool.
//!
//! Handing each put to `spawn_blocking` wakes a pool thread per put, and with
//! eight puts in flight the pool keeps dozens of threads that sleep and wake
//! in turn. A lane queues the work instead and lets at most a few loops run
//! it, each taking the next job until none is left, so a busy lane runs job
//! after job on threads that stay awake. For many small puts that means far
//! fewer context switches and less wall time; ADR 0005
//! (`docs/decisions/0005-local-store-durability.md`, "Figures") has the W5
//! figures.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// One piece of work; it sends its own result.
type Job = Box<dyn FnOnce() + Send>;

/// The queue and the loops that run it.
#[derive(Debug)]
pub(super) struct Lane {
    state: Mutex<State>,
    /// The most loops running at once.
    loops: usize,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    running: usize,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("jobs", &self.jobs.len())
            .field("running", &self.running)
            .finish()
    }
}

impl Lane {
    /// A lane that runs up to `loops` jobs at once.
    pub(super) fn new(loops: usize) -> Self {
        Self {
            state: Mutex::default(),
            loops: loops.max(1),
        }
    }

    /// Runs `work` in the lane and returns what it returns, or the payload
    /// of its panic. `None` when the runtime dropped the work unrun (it is
    /// shutting down).
    pub(super) async fn run<T, F>(self: &Arc<Self>, work: F) -> Option<std::thread::Result<T>>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (send, receive) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = send.send(catch_unwind(AssertUnwindSafe(work)));
        });
        let start = {
            let mut state = self.lock();
            state.jobs.push_back(job);
            let start = state.running < self.loops;
            if start {
                state.running += 1;
            }
            start
        };
        if start {
            let running = Running {
                lane: Arc::clone(self),
                finished: false,
            };
            tokio::task::spawn_blocking(move || running.run());
        }
        receive.await.ok()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Jobs catch their own panics and none runs under the lock, so the
        // state is sound even if the lock was poisoned.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One loop of a lane: it takes jobs until none is left, and stops counting
/// itself as running in the same step as it finds the queue empty, so a job
/// queued just then finds a loop running or starts one.
struct Running {
    lane: Arc<Lane>,
    finished: bool,
}

impl Running {
    fn run(mut self) {
        loop {
            let job = {
                let mut state = self.lane.lock();
                let job = state.jobs.pop_front();
                if job.is_none() {
                    state.running -= 1;
                    self.finished = true;
                }
                job
            };
            match job {
                Some(job) => job(),
                None => return,
            }
        }
    }
}

impl Drop for Running {
    /// A loop dropped unrun (the runtime is shutting down): if it was the
    /// last, the queued jobs are dropped too, which tells their callers.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let orphans = {
            let mut state = self.lane.lock();
            state.running -= 1;
            if state.running == 0 {
                std::mem::take(&mut state.jobs)
            } else {
                VecDeque::new()
            }
        };
        drop(orphans);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_job_runs_once_and_answers_its_caller() {
        let lane = Arc::new(Lane::new(2));
        let runs: Vec<_> = (0..500u32)
            .map(|i| {
                let lane = Arc::clone(&lane);
                tokio::spawn(async move { lane.run(move || i * 2).await })
            })
            .collect();
        for (i, run) in (0u32..).zip(runs) {
            let answer = run
                .await
                .expect("the task")
                .expect("run")
                .expect("no panic");
            assert_eq!(answer, i * 2);
        }
        // A loop marks itself stopped just after it sends its last answer:
        // give it a moment to do so.
        for _ in 0..200 {
            let idle = {
                let state = lane.lock();
                (state.jobs.len(), state.running) == (0, 0)
            };
            if idle {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let state = lane.lock();
        assert_eq!((state.jobs.len(), state.running), (0, 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_the_given_number_of_jobs_run_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let lane = Arc::new(Lane::new(3));
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let runs: Vec<_> = (0..60)
            .map(|_| {
                let (lane, now, most) = (Arc::clone(&lane), Arc::clone(&now), Arc::clone(&most));
                tokio::spawn(async move {
                    lane.run(move || {
                        let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(running, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(2));
                        now.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        for run in runs {
            run.await
                .expect("the task")
                .expect("run")
                .expect("no panic");
        }
        assert!(most.load(Ordering::SeqCst) <= 3, "{most:?}");
    }

    #[test]
    fn a_loop_dropped_unrun_drops_the_queue_and_its_callers_hear_of_it() {
        let lane = Arc::new(Lane::new(1));
        let (send, mut receive) = tokio::sync::oneshot::channel::<u8>();
        {
            let mut state = lane.lock();
            state.jobs.push_back(Box::new(move || {
                let _ = send.send(1);
            }));
            state.running = 1;
        }
        drop(Running {
            lane: Arc::clone(&lane),
            finished: false,
        });
        assert!(receive.try_recv().is_err(), "the job never ran");
        let state = lane.lock();
        assert_eq!((state.jobs.len(), state.running), (0, 0));
    }

    #[tokio::test]
    async fn a_panic_goes_back_to_its_caller_and_the_lane_goes_on() {
        let lane = Arc::new(Lane::new(1));
        let panicked = lane
            .run(|| -> u8 { panic!("a job that panics") })
            .await
            .expect("run");
        assert!(panicked.is_err());
        let answer = lane.run(|| 7).await.expect("run").expect("no panic");
        assert_eq!(answer, 7);
    }
}
