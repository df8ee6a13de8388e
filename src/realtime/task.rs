//! Socket tasks: spawned on the HTTP worker that accepted the socket, and never dropped
//! outside the Tokio runtime.
//!
//! A worker's tasks live in its `LocalSet`, which actix drops before the worker's runtime
//! when the worker stops (at the end of the shutdown grace period). A socket task dropped
//! there in the middle of a database call drops a pooled connection or a transaction, whose
//! `Drop` spawns its clean-up on "the current runtime": outside one, that panicked ("this
//! functionality requires a Tokio context"). Shutdown closes every socket first, so a task
//! normally ends on its own; this is the guarantee for one that does not.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};
use tokio::runtime::Handle;

/// Spawns a socket's task on the current worker.
pub fn spawn_socket(task: impl Future<Output = ()> + 'static) {
    actix_web::rt::spawn(InRuntime {
        runtime: Handle::current(),
        task: Some(Box::pin(task)),
    });
}

/// A task that, when dropped unfinished, is dropped inside its runtime's context.
struct InRuntime {
    runtime: Handle,
    task: Option<Pin<Box<dyn Future<Output = ()>>>>,
}

impl Future for InRuntime {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(task) = self.task.as_mut() else {
            return Poll::Ready(());
        };
        let done = task.as_mut().poll(cx);
        if done.is_ready() {
            self.task = None;
        }
        done
    }
}

impl Drop for InRuntime {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            let _inside = self.runtime.enter();
            drop(task);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::InRuntime;

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
        let handle = runtime.handle().clone();
        let held = NeedsRuntime;
        let task = InRuntime {
            runtime: handle,
            task: Some(Box::pin(async move {
                let _held = held;
                std::future::pending::<()>().await;
            })),
        };
        // Outside any runtime context, as in a worker's LocalSet being dropped.
        drop(task);
    }
}
