//! The scheduler lock: one transaction at a time leads a tick on PostgreSQL; on SQLite
//! one replica leads until its lease ends or it gives it up.

use super::*;

#[tokio::test]
async fn on_postgres_one_transaction_at_a_time_leads_a_tick() {
    let pg = PgDatabase::new().await;
    let db =
        echoflow_service_kit::db::connect(&SecretString::from(pg.url()), Slice::Registry.name(), 4)
            .await
            .unwrap();
    let lease = chrono::Duration::seconds(5);
    let now = Utc::now();
    let first = db.begin().await.unwrap();
    assert!(scheduler_lock::lead(&first, "a", now, lease).await.unwrap());
    let second = db.begin().await.unwrap();
    assert!(
        !scheduler_lock::lead(&second, "b", now, lease)
            .await
            .unwrap()
    );
    second.rollback().await.unwrap();
    // The lock ends with the transaction that took it.
    first.commit().await.unwrap();
    let third = db.begin().await.unwrap();
    assert!(scheduler_lock::lead(&third, "b", now, lease).await.unwrap());
    third.commit().await.unwrap();
    db.close().await.unwrap();
}

#[tokio::test]
async fn on_sqlite_one_replica_leads_until_its_lease_ends_or_is_given_up() {
    let path = std::env::temp_dir().join(format!(
        "echoflow-registry-lease-{}.db",
        Uuid::new_v4().simple()
    ));
    let url = SecretString::from(format!("sqlite://{}?mode=rwc", path.display()));
    let db = echoflow_service_kit::db::connect(&url, Slice::Registry.name(), 2)
        .await
        .unwrap();
    Slice::Registry.migrate(&db).await.unwrap();
    let lease = chrono::Duration::seconds(5);
    let t0 = Utc::now();
    let lead = |holder: &'static str, at: DateTime<Utc>| {
        let db = db.clone();
        async move {
            let txn = db.begin().await.unwrap();
            let led = scheduler_lock::lead(&txn, holder, at, lease).await.unwrap();
            txn.commit().await.unwrap();
            led
        }
    };

    assert!(lead("a", t0).await);
    assert!(!lead("b", t0).await, "a holds the lease");
    assert!(
        lead("a", t0 + chrono::Duration::seconds(4)).await,
        "a renews it"
    );
    assert!(
        !lead("b", t0 + chrono::Duration::seconds(8)).await,
        "renewed until 9 s"
    );
    assert!(
        lead("b", t0 + chrono::Duration::seconds(10)).await,
        "expired: b takes over"
    );
    assert!(!lead("a", t0 + chrono::Duration::seconds(10)).await);
    scheduler_lock::release(&db, "a").await.unwrap();
    assert!(
        !lead("a", t0 + chrono::Duration::seconds(11)).await,
        "a gives up only its own lease"
    );
    scheduler_lock::release(&db, "b").await.unwrap();
    assert!(
        lead("a", t0 + chrono::Duration::seconds(11)).await,
        "given up: free at once"
    );
    db.close().await.unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}
