//! Connects a service to its schema slice: a PostgreSQL schema (`search_path`)
//! or a SQLite file.

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// Connects to `url` for the schema slice `slice` (e.g. `registry`).
/// PostgreSQL: creates the schema if needed and points `search_path` at it.
/// SQLite: creates the file (and its folder) if needed, in WAL mode.
#[tracing::instrument(skip(url), fields(slice))]
pub async fn connect(
    url: &SecretString,
    slice: &str,
    max_connections: u32,
) -> Result<DatabaseConnection, DbErr> {
    let url = url.expose_secret();
    if is_sqlite(url) {
        connect_sqlite(url, max_connections).await
    } else {
        connect_postgres(url, slice, max_connections).await
    }
}

pub fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

async fn connect_postgres(
    url: &str,
    slice: &str,
    max_connections: u32,
) -> Result<DatabaseConnection, DbErr> {
    if !slice.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        return Err(DbErr::Custom(format!("invalid schema name {slice:?}")));
    }
    let admin = Database::connect(base_options(url, 1)).await?;
    // The schema name is one of our own fixed slice names, checked above;
    // identifiers cannot be bound as parameters.
    if let Err(e) = admin
        .execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS \"{slice}\""))
        .await
    {
        // Two services creating the same schema at once race on the catalog;
        // the loser sees a duplicate key, and the schema exists either way.
        if !e.to_string().contains("duplicate key") {
            return Err(e);
        }
    }
    admin.close().await?;
    let mut options = base_options(url, max_connections);
    options.set_schema_search_path(slice.to_string());
    Database::connect(options).await
}

async fn connect_sqlite(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", parent.display())))?;
    }
    create_private(std::path::Path::new(path))
        .map_err(|e| DbErr::Custom(format!("cannot create {path}: {e}")))?;
    let mut options = base_options(url, max_connections.min(8));
    options.map_sqlx_sqlite_opts(|o| {
        use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
        o.create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
    });
    Database::connect(options).await
}

/// Creates the SQLite file readable by its owner only (0600) before SQLite
/// opens it; SQLite gives its -wal and -shm files the database file's mode.
fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    if path.as_os_str().is_empty() || path.to_string_lossy().starts_with(':') {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}

fn base_options(url: &str, max_connections: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_string());
    options
        .max_connections(max_connections.max(1))
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        // sqlx pings a connection before every checkout by default: one more
        // round trip per statement. Broken connections surface as errors the
        // callers retry; idle ones are recycled.
        .test_before_acquire(false)
        .idle_timeout(Duration::from_secs(300))
        .sqlx_logging(false);
    options
}

/// A cheap round trip, for `/readyz`.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.ping().await
}
