//! Seeding the library into the database: idempotent, and safe when replicas start together.

use super::*;

async fn connect(url: &str) -> DatabaseConnection {
    echoflow_service_kit::db::connect(
        &SecretString::from(url.to_string()),
        Slice::Registry.name(),
        4,
    )
    .await
    .unwrap()
}

/// `updated_at` of every stored template, by id.
async fn stamps(db: &DatabaseConnection) -> BTreeMap<String, chrono::DateTime<chrono::Utc>> {
    stored::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.id, row.updated_at))
        .collect()
}

/// Replicas seeding one database at the same moment all succeed and leave
/// the library once; seeding again rewrites nothing; a changed template is
/// rewritten and one no longer shipped is removed.
async fn seeding_converges(url: &str) {
    let library = library::load().unwrap();
    let db = connect(url).await;
    Slice::Registry.migrate(&db).await.unwrap();
    let replicas = 4;
    let barrier = Arc::new(Barrier::new(replicas));
    let mut racing = Vec::new();
    for _ in 0..replicas {
        let (barrier, library, replica) = (barrier.clone(), library.clone(), connect(url).await);
        racing.push(tokio::spawn(async move {
            barrier.wait().await;
            stored::seed(&replica, &library).await
        }));
    }
    for seeded in futures::future::join_all(racing).await {
        seeded.unwrap().unwrap();
    }
    let first = stamps(&db).await;
    let ids: BTreeSet<&str> = library.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        first.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        ids
    );
    assert_eq!(stored::list(&db, None).await.unwrap().len(), library.len());

    stored::seed(&db, &library).await.unwrap();
    assert_eq!(
        stamps(&db).await,
        first,
        "an unchanged library is not rewritten"
    );

    let mut next = library.clone();
    let removed = next.pop().unwrap();
    next[0].description = "A better description.".into();
    stored::seed(&db, &next).await.unwrap();
    let after = stamps(&db).await;
    assert!(
        !after.contains_key(&removed.id),
        "{} is still stored",
        removed.id
    );
    assert!(
        after[&next[0].id] > first[&next[0].id],
        "the changed template is rewritten"
    );
    for t in &next[1..] {
        assert_eq!(after[&t.id], first[&t.id], "{} was rewritten", t.id);
    }
    let changed = stored::find(&db, &next[0].id).await.unwrap().unwrap();
    assert_eq!(changed, next[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seeding_is_idempotent_and_safe_with_replicas_starting_together_on_postgres() {
    let pg = PgDatabase::new().await;
    seeding_converges(&pg.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seeding_is_idempotent_and_safe_with_replicas_starting_together_on_sqlite() {
    let path = std::env::temp_dir().join(format!(
        "echoflow-registry-templates-{}.db",
        Uuid::new_v4().simple()
    ));
    seeding_converges(&format!("sqlite://{}?mode=rwc", path.display())).await;
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}
