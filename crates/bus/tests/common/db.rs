//! A fresh database per test: a PostgreSQL database or a SQLite file, removed on drop.

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";

pub enum TestDb {
    Postgres { name: String },
    Sqlite { path: std::path::PathBuf },
}

impl TestDb {
    pub async fn postgres() -> (Self, DatabaseConnection) {
        let name = format!("bus_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(format!("{POSTGRES}/postgres"))
            .await
            .unwrap();
        // The name is ours (a uuid), not input: identifiers cannot be bound parameters.
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        admin.close().await.unwrap();
        let db = Database::connect(format!("{POSTGRES}/{name}"))
            .await
            .unwrap();
        (Self::Postgres { name }, db)
    }

    pub async fn sqlite() -> (Self, DatabaseConnection) {
        let path =
            std::env::temp_dir().join(format!("bus_test_{}.db", uuid::Uuid::new_v4().simple()));
        let db = Database::connect(format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        (Self::Sqlite { path }, db)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self {
            Self::Sqlite { path } => {
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Self::Postgres { name } => {
                let name = name.clone();
                // Drop runs inside the test's runtime: use a runtime of our own on another thread.
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime.block_on(async {
                        if let Ok(admin) = Database::connect(format!("{POSTGRES}/postgres")).await {
                            let _ = admin
                                .execute_unprepared(&format!(
                                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                                ))
                                .await;
                            let _ = admin.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }
}
