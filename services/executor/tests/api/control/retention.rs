//! Run with: cargo test -p echoflow-executor --test api control::retention
//!
//! Executions older than the retention are pruned with their steps.

use serde_json::json;

use super::{call_flow, scripted, status};
use crate::helpers::*;

#[tokio::test]
async fn executions_older_than_the_retention_are_pruned_with_their_steps() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let (server, _) = scripted(vec![status(200)]).await;
    let job = call_flow(&server, json!({})).job(&user, json!({}));
    let done = app.run(&job, &user).await;
    assert_eq!(done["status"], "completed");
    let db = echoflow_service_kit::db::connect(
        &secrecy::SecretString::from(format!("sqlite://{}?mode=rwc", app.db_path.display())),
        "executions",
        1,
    )
    .await
    .unwrap();
    // Nothing is old enough yet.
    let kept = echoflow_executor::background::retention::prune(
        &db,
        chrono::Utc::now() - chrono::Duration::days(1),
    )
    .await
    .unwrap();
    assert_eq!(kept, 0);
    let pruned = echoflow_executor::background::retention::prune(
        &db,
        chrono::Utc::now() + chrono::Duration::seconds(1),
    )
    .await
    .unwrap();
    assert_eq!(pruned, 1);
    assert_eq!(
        app.get_execution(&job.execution_id, &user).await.status(),
        404
    );
}
