//! The embedded mode's data folder is private to its owner: the folder 0700,
//! every file in it (secrets, SQLite files and their -wal/-shm) 0600.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

/// Creates `dir` (0700) if missing and returns its canonical path, with
/// every entry that was readable by others (the folder itself or a file in
/// it) made private again; the caller logs a warning for each.
pub fn prepare(dir: &Path) -> std::io::Result<(PathBuf, Vec<PathBuf>)> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    let dir = std::fs::canonicalize(dir)?;
    let mut fixed = Vec::new();
    if restrict(&dir, DIR_MODE)? {
        fixed.push(dir.clone());
    }
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() && restrict(&entry.path(), FILE_MODE)? {
            fixed.push(entry.path());
        }
    }
    Ok((dir, fixed))
}

/// Takes group and other permissions away from `path`; whether it had any.
fn restrict(path: &Path, mode: u32) -> std::io::Result<bool> {
    let current = std::fs::metadata(path)?.permissions().mode();
    if current & 0o077 == 0 {
        return Ok(false);
    }
    std::fs::set_permissions(path, Permissions::from_mode(mode))?;
    Ok(true)
}

/// Writes `contents` to `path`, created 0600 (never readable by others, not
/// even between creation and a later chmod). An existing file that is too
/// open is restricted before anything is written to it.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)?;
    if file.metadata()?.permissions().mode() & 0o077 != 0 {
        file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    }
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("echoflow-data-{}", uuid::Uuid::new_v4().simple()))
    }

    #[test]
    fn a_new_folder_is_0700_and_new_secrets_0600() {
        let dir = temp_dir().join("nested");
        let (dir, fixed) = prepare(&dir).unwrap();
        assert!(fixed.is_empty());
        assert_eq!(mode(&dir), 0o700);
        write_private(&dir.join("jwt.secret"), "s").unwrap();
        assert_eq!(mode(&dir.join("jwt.secret")), 0o600);
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn files_and_folder_readable_by_others_are_made_private() {
        let dir = temp_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        for name in ["jwt.secret", "registry.db-wal"] {
            std::fs::write(dir.join(name), "x").unwrap();
            std::fs::set_permissions(dir.join(name), Permissions::from_mode(0o644)).unwrap();
        }
        std::fs::write(dir.join("chat.db"), "x").unwrap();
        std::fs::set_permissions(dir.join("chat.db"), Permissions::from_mode(0o600)).unwrap();

        let (dir, mut fixed) = prepare(&dir).unwrap();
        fixed.sort();
        assert_eq!(
            fixed,
            vec![
                dir.clone(),
                dir.join("jwt.secret"),
                dir.join("registry.db-wal")
            ]
        );
        assert_eq!(mode(&dir), 0o700);
        for name in ["jwt.secret", "registry.db-wal", "chat.db"] {
            assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rewriting_an_open_file_restricts_it_first() {
        let dir = temp_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("integrations.keys");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        write_private(&path, "new").unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
