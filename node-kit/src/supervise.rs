//! Task supervision: a component's background tasks run under one [`Supervisor`]. A
//! task is meant to run until the component is cancelled; one that returns early,
//! returns an error or panics is a failure: the component's [`Health`] turns red with
//! the task's name and reason, the component is cancelled (its other tasks and servers
//! stop in order) and [`Supervisor::failed`] resolves, so the binary exits non-zero
//! with a clear message instead of serving on half alive.

use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A supervised task that stopped before its component was shut down.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("task `{task}` {reason}")]
pub struct TaskFailure {
    /// The task's name.
    pub task: String,
    /// Why: `stopped unexpectedly`, `failed: …` or `panicked: …`.
    pub reason: String,
}

/// A component's health: green until a supervised task fails. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Health(Arc<Mutex<Option<TaskFailure>>>);

impl Health {
    /// Whether no supervised task has failed.
    pub fn is_healthy(&self) -> bool {
        self.0.lock().is_none()
    }

    /// The first failure, if any.
    pub fn failure(&self) -> Option<TaskFailure> {
        self.0.lock().clone()
    }

    /// `{"status": "ok"}` or `{"status": "failed", "failure": "…"}` merged into `extra`
    /// (an object), with the HTTP status a `/health` route answers (200 or 503).
    pub fn report(&self, extra: serde_json::Value) -> (axum::http::StatusCode, serde_json::Value) {
        let mut v = match extra {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        match self.failure() {
            None => {
                v.insert("status".into(), "ok".into());
                (axum::http::StatusCode::OK, v.into())
            }
            Some(f) => {
                v.insert("status".into(), "failed".into());
                v.insert("failure".into(), f.to_string().into());
                (axum::http::StatusCode::SERVICE_UNAVAILABLE, v.into())
            }
        }
    }

    fn fail(&self, f: TaskFailure) -> bool {
        let mut g = self.0.lock();
        if g.is_none() {
            *g = Some(f);
            true
        } else {
            false
        }
    }
}

/// Owns a component's background tasks (see the module docs).
#[derive(Debug)]
pub struct Supervisor {
    cancel: CancellationToken,
    health: Health,
    failed: watch::Sender<Option<TaskFailure>>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Supervisor {
    /// A supervisor of the component that `cancel` shuts down.
    pub fn new(cancel: CancellationToken) -> Self {
        Self {
            cancel,
            health: Health::default(),
            failed: watch::channel(None).0,
            tasks: Vec::new(),
        }
    }

    /// The component's cancellation token.
    pub fn token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// The component's health.
    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// Runs `task` until the component is cancelled; its returning before that, or a
    /// panic, is a failure.
    pub fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.spawn_fallible(name, task.map(Ok::<(), std::convert::Infallible>));
    }

    /// Serves `router` on `listener` behind the HTTP guard ([`crate::guard`]) as the
    /// task `name`, until the component is cancelled.
    pub fn spawn_http(
        &mut self,
        name: &'static str,
        listener: tokio::net::TcpListener,
        router: axum::Router,
        limits: crate::guard::HttpLimits,
    ) {
        let stop = self.cancel.child_token();
        self.spawn_fallible(name, async move {
            crate::guard::serve(listener, router, &limits, stop.cancelled_owned()).await
        });
    }

    /// [`Self::spawn`] for a task that can end with an error (a failure unless the
    /// component was being cancelled).
    pub fn spawn_fallible<F, E>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: Display,
    {
        let cancel = self.cancel.clone();
        let health = self.health.clone();
        let failed = self.failed.clone();
        let handle = tokio::spawn(async move {
            let out = AssertUnwindSafe(task).catch_unwind().await;
            let reason = match out {
                Ok(Ok(())) if cancel.is_cancelled() => return,
                Ok(Err(_)) if cancel.is_cancelled() => return,
                Ok(Ok(())) => "stopped unexpectedly".to_string(),
                Ok(Err(e)) => format!("failed: {e}"),
                Err(panic) => format!("panicked: {}", panic_message(&*panic)),
            };
            let failure = TaskFailure {
                task: name.to_string(),
                reason,
            };
            tracing::error!(target: "zg_node_kit", task = name, error = %failure, "supervised task failed; stopping the component");
            if health.fail(failure.clone()) {
                failed.send_replace(Some(failure));
            }
            cancel.cancel();
        });
        self.tasks.push((name, handle));
    }

    /// Resolves with the first failure (never, if no task fails). Cancel-safe.
    pub fn failed(&self) -> impl Future<Output = TaskFailure> + Send + 'static {
        let mut rx = self.failed.subscribe();
        async move {
            loop {
                if let Some(f) = rx.borrow_and_update().clone() {
                    return f;
                }
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }

    /// Cancels the component and waits for its tasks in the order they were spawned;
    /// the first failure, if one happened.
    pub async fn shutdown(self) -> Option<TaskFailure> {
        self.cancel.cancel();
        self.join().await
    }

    /// Waits for the tasks (after the caller cancelled the component itself).
    pub async fn join(self) -> Option<TaskFailure> {
        for (_, t) in self.tasks {
            let _ = t.await;
        }
        self.health.failure()
    }
}

/// A process's main loop: resolves `Ok` on SIGINT/SIGTERM, or with the failure of a
/// supervised task first.
pub async fn until_shutdown(failed: impl Future<Output = TaskFailure>) -> Result<(), TaskFailure> {
    tokio::select! {
        _ = crate::runtime::shutdown_signal() => Ok(()),
        f = failed => Err(f),
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic".to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn clean_shutdown_is_no_failure() {
        let cancel = CancellationToken::new();
        let mut s = Supervisor::new(cancel.clone());
        let c = cancel.clone();
        s.spawn("loop", async move { c.cancelled().await });
        assert!(s.health().is_healthy());
        assert_eq!(s.shutdown().await, None);
    }

    #[tokio::test]
    async fn a_task_that_ends_early_stops_the_component() {
        let cancel = CancellationToken::new();
        let mut s = Supervisor::new(cancel.clone());
        let c = cancel.clone();
        s.spawn("server", async move { c.cancelled().await });
        s.spawn("follower", async {});
        let f = tokio::time::timeout(Duration::from_secs(5), s.failed())
            .await
            .unwrap();
        assert_eq!(f.task, "follower");
        assert_eq!(f.to_string(), "task `follower` stopped unexpectedly");
        assert!(cancel.is_cancelled(), "the component is cancelled");
        let health = s.health();
        assert!(!health.is_healthy());
        let (status, body) = health.report(serde_json::json!({"role": "node"}));
        assert_eq!(status.as_u16(), 503);
        assert_eq!(body["status"], "failed");
        assert_eq!(body["role"], "node");
        assert_eq!(s.shutdown().await, Some(f));
    }

    #[tokio::test]
    async fn errors_and_panics_are_failures_with_their_reason() {
        let mut s = Supervisor::new(CancellationToken::new());
        s.spawn_fallible("pruner", async { Err::<(), _>("disk full") });
        let f = s.failed().await;
        assert_eq!(f.reason, "failed: disk full");

        let mut s = Supervisor::new(CancellationToken::new());
        s.spawn("lottery", async { panic!("invariant broken") });
        let f = s.failed().await;
        assert_eq!(f.reason, "panicked: invariant broken");
        assert_eq!(s.join().await.map(|f| f.task), Some("lottery".into()));
    }

    #[tokio::test]
    async fn only_the_first_failure_is_kept() {
        let mut s = Supervisor::new(CancellationToken::new());
        s.spawn_fallible("a", async { Err::<(), _>("first") });
        let first = s.failed().await;
        s.spawn_fallible("b", async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Err::<(), _>("second")
        });
        assert_eq!(s.join().await, Some(first));
    }
}
