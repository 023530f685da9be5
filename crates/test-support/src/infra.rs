//! A fresh PostgreSQL database and RabbitMQ vhost per test.

use sea_orm::{ConnectionTrait, Database};
use std::process::Command;

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Creates the database `<prefix>_<uuid>`; returns its name.
async fn create_database(prefix: &str) -> String {
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(PG_ADMIN_URL)
        .await
        .expect("PostgreSQL at 127.0.0.1:5432");
    // The name is ours (a uuid): identifiers cannot be bound parameters.
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    admin.close().await.unwrap();
    name
}

/// Drops the database `name` (its connections too), ignoring failures.
async fn drop_database(name: &str) {
    if let Ok(admin) = Database::connect(PG_ADMIN_URL).await {
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
        let _ = admin.close().await;
    }
}

pub struct TestDb {
    pub name: String,
}

impl TestDb {
    pub async fn create() -> Self {
        Self {
            name: create_database("ef_test").await,
        }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }

    /// Runs `sql` (a query whose one column is text) and returns that
    /// column of every row.
    pub async fn query_json(&self, sql: &str) -> Vec<String> {
        let db = Database::connect(self.url()).await.unwrap();
        let rows = db
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                sql,
            ))
            .await
            .unwrap();
        let texts = rows
            .iter()
            .map(|r| r.try_get_by_index::<String>(0).unwrap())
            .collect();
        db.close().await.unwrap();
        texts
    }

    pub async fn drop_database(self) {
        drop_database(&self.name).await;
    }
}

/// A fresh PostgreSQL database for one test, dropped when this value is
/// (service API tests; [`TestDb`] is dropped explicitly by the e2e tests).
pub struct PgDatabase {
    name: String,
}

impl PgDatabase {
    /// Creates `<prefix>_<uuid>`.
    pub async fn new(prefix: &str) -> Self {
        Self {
            name: create_database(prefix).await,
        }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime: use a runtime of our own on another thread.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(drop_database(&name));
        })
        .join();
    }
}

/// A database for one slice's tests, on either backend: a SQLite file in the
/// temp folder or a fresh PostgreSQL database, removed when this value is dropped.
pub enum TestDatabase {
    Sqlite(std::path::PathBuf),
    Postgres(PgDatabase),
}

impl TestDatabase {
    /// A new SQLite file `<prefix>-<uuid>.db` (created on first connection).
    pub fn sqlite(prefix: &str) -> Self {
        Self::Sqlite(
            std::env::temp_dir().join(format!("{prefix}-{}.db", uuid::Uuid::new_v4().simple())),
        )
    }

    /// A new PostgreSQL database `<prefix>_<uuid>`.
    pub async fn postgres(prefix: &str) -> Self {
        Self::Postgres(PgDatabase::new(prefix).await)
    }

    pub fn url(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{}?mode=rwc", path.display()),
            Self::Postgres(db) => db.url(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Self::Sqlite(path) = self {
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.clone().into_os_string();
                file.push(suffix);
                let _ = std::fs::remove_file(file);
            }
        }
    }
}

pub struct TestVhost {
    pub name: String,
}

fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl on PATH");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestVhost {
    pub fn create() -> Self {
        let name = format!("ef-test-{}", uuid::Uuid::new_v4().simple());
        rabbitmqctl(&["add_vhost", &name]);
        rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
        Self { name }
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }

    pub fn delete(self) {
        let _ = Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.name])
            .output();
    }
}
