//! Socket tasks and HTTP requests: never dropped outside the Tokio runtime.
//!
//! A worker's tasks live in its `LocalSet`, which actix drops before the worker's runtime
//! when the worker stops (at the end of the shutdown grace period). A socket task dropped
//! there in the middle of a database call drops a pooled connection or a transaction, whose
//! `Drop` spawns its clean-up on "the current runtime": outside one, that panicked ("this
//! functionality requires a Tokio context"). Shutdown closes every socket first and lets
//! requests finish, so a task normally ends on its own; this is the guarantee for one (a
//! socket task or a request slower than the grace period) that does not.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};
use tokio::runtime::Handle;

/// Spawns a task on the current worker (a socket's), dropped inside the runtime if unfinished.
pub fn spawn_local(task: impl Future<Output = ()> + 'static) {
    actix_web::rt::spawn(in_runtime(task));
}

/// `work` such that, when dropped unfinished, it is dropped inside the current runtime's
/// context (also every HTTP request, wrapped in `startup`).
pub fn in_runtime<F: Future>(work: F) -> InRuntime<F> {
    InRuntime {
        runtime: Handle::current(),
        work: Some(Box::pin(work)),
    }
}

/// A future that, when dropped unfinished, is dropped inside its runtime's context.
pub struct InRuntime<F: Future> {
    runtime: Handle,
    work: Option<Pin<Box<F>>>,
}

impl<F: Future> Future for InRuntime<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let Some(work) = self.work.as_mut() else {
            // Polled after completion: never done by an executor.
            return Poll::Pending;
        };
        let done = work.as_mut().poll(cx);
        if done.is_ready() {
            self.work = None;
        }
        done
    }
}

impl<F: Future> Drop for InRuntime<F> {
    fn drop(&mut self) {
        if let Some(work) = self.work.take() {
            let _inside = self.runtime.enter();
            drop(work);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::in_runtime;

    /// The panic this guards against: a value whose `Drop` needs the runtime, dropped by a
    /// `LocalSet` that outlives its runtime's context.
    struct NeedsRuntime;

    impl Drop for NeedsRuntime {
        fn drop(&mut self) {
            drop(tokio::spawn(async {}));
        }
    }

    #[test]
    fn an_unfinished_task_is_dropped_inside_the_runtime() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let held = NeedsRuntime;
        let task = {
            let _made_inside = runtime.enter();
            in_runtime(async move {
                let _held = held;
                std::future::pending::<()>().await;
            })
        };
        // Outside any runtime context, as in a worker's LocalSet being dropped.
        drop(task);
    }
}
