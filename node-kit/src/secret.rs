//! Secret files (key files): written atomically with mode 0600 and never over an
//! existing file; read only when neither group nor others can read them.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A secret file could not be written or used.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// Reading or writing failed (including: the file already exists).
    #[error("secret file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is readable by group or others.
    #[error(
        "secret file {path} has mode {mode:o}; it must not be readable by group or others (chmod 600)"
    )]
    Permissions {
        /// The file.
        path: String,
        /// Its mode bits.
        mode: u32,
    },
}

/// Writes `bytes` to a new file at `path` with mode 0600: to a temporary file beside it
/// (synced), then linked into place, so a crash leaves either no file or the whole one,
/// and an existing file is never replaced (`AlreadyExists`).
pub fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), SecretFileError> {
    let io = |source| SecretFileError::Io {
        path: path.display().to_string(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    std::fs::create_dir_all(&dir).map_err(io)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "secret".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let written = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    let _ = std::fs::remove_file(&tmp);
    written.map_err(io)
}

/// Reads the secret file at `path`; refuses one that group or others can read.
pub fn read_secret(path: &Path) -> Result<Vec<u8>, SecretFileError> {
    let p = || path.display().to_string();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|source| SecretFileError::Io { path: p(), source })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(SecretFileError::Permissions {
                path: p(),
                mode: mode & 0o777,
            });
        }
    }
    std::fs::read(path).map_err(|source| SecretFileError::Io { path: p(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_private_atomic_and_never_replaced() {
        let dir = crate::TempDir::new("secret");
        let path = dir.0.join("sub").join("k.key");
        write_secret(&path, b"s3cret").unwrap();
        assert_eq!(read_secret(&path).unwrap(), b"s3cret");
        let again = write_secret(&path, b"other").unwrap_err();
        assert!(
            matches!(again, SecretFileError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists),
            "{again}"
        );
        assert_eq!(read_secret(&path).unwrap(), b"s3cret");
        // No temporary files left beside it.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                read_secret(&path),
                Err(SecretFileError::Permissions { mode: 0o644, .. })
            ));
        }
    }
}
