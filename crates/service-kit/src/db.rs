//! Connects a service to its schema slice: a PostgreSQL schema (`search_path`)
//! or a SQLite file.

use echoflow_migrations::Slice;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

use crate::settings::DatabaseSettings;

/// Connects the service to its slice and applies the slice's pending migrations.
pub async fn connect_slice(
    settings: &DatabaseSettings,
    slice: Slice,
) -> Result<DatabaseConnection, DbErr> {
    let db = connect(&settings.url, slice.name(), settings.max_connections).await?;
    slice.migrate(&db).await?;
    Ok(db)
}

/// Begins a transaction that reads and then writes what it read, so that no
/// other writer may come in between.
///
/// SQLite: `BEGIN IMMEDIATE` takes the database's write lock at once, waiting
/// its turn (the busy timeout) as any writer does. A plain (deferred)
/// transaction would start as a reader, and when it then wrote after another
/// writer had committed it would fail at once with "database is locked".
/// PostgreSQL: a plain `BEGIN`; the transaction locks what it reads itself
/// (`SELECT ... FOR UPDATE`, an advisory lock), which SQLite does not need.
pub async fn begin_writer<C: TransactionTrait>(db: &C) -> Result<C::Transaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{DatabaseBackend, Statement};

    fn temp_sqlite() -> (SecretString, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("echoflow-db-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}/slice.db", dir.display());
        (SecretString::from(url), dir)
    }

    async fn count(db: &impl ConnectionTrait) -> i64 {
        let row = db
            .query_one_raw(Statement::from_string(
                DatabaseBackend::Sqlite,
                "SELECT COUNT(*) AS n FROM t",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get("", "n").unwrap()
    }

    #[tokio::test]
    async fn a_writer_transaction_waits_for_the_other_writer_instead_of_failing() {
        let (url, dir) = temp_sqlite();
        let db = connect(&url, "unused", 4).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (n INTEGER)")
            .await
            .unwrap();
        let first = begin_writer(&db).await.unwrap();
        let second_db = db.clone();
        // Reads, then writes what it read: as a writer it cannot be overtaken.
        let second = tokio::spawn(async move {
            let txn = begin_writer(&second_db).await?;
            let seen = count(&txn).await;
            txn.execute_unprepared(&format!("INSERT INTO t VALUES ({seen})"))
                .await?;
            txn.commit().await
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!second.is_finished(), "the second writer must wait");
        first
            .execute_unprepared("INSERT INTO t VALUES (0)")
            .await
            .unwrap();
        first.commit().await.unwrap();
        second.await.unwrap().unwrap();
        let last = db
            .query_one_raw(Statement::from_string(
                DatabaseBackend::Sqlite,
                "SELECT MAX(n) AS n FROM t",
            ))
            .await
            .unwrap()
            .unwrap();
        // The second counted the first's row: it read after the first committed.
        assert_eq!(last.try_get::<i64>("", "n").unwrap(), 1);
        assert_eq!(count(&db).await, 2);
        db.close().await.unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }
}
