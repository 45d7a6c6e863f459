//! Process helpers shared by the binaries and test harnesses: logging setup, the
//! shutdown signal and a self-removing temporary directory.

use std::path::PathBuf;

/// A directory removed (with its contents) on drop: a throwaway datadir.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh, unique directory under the system's temporary directory.
    ///
    /// # Panics
    /// When it cannot be created (only tests and throwaway runs use it).
    pub fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!("zg-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).expect("creating a temporary directory");
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Installs the global `tracing` subscriber: `RUST_LOG` (default `info`), text or JSON
/// lines (`format == "json"`). A second call is a no-op.
pub fn init_tracing(format: &str) {
    init_tracing_with(format, "info");
}

/// [`init_tracing`] with another filter than `info` when `RUST_LOG` is unset.
pub fn init_tracing_with(format: &str, default_filter: &str) {
    // Without an exporter the guard holds nothing.
    let _ = crate::telemetry::init(format, default_filter, None);
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
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
