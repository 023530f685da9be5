//! On PostgreSQL and RabbitMQ: several registries fire each tick once; after a stop,
//! once then on; never while inactive, and a deleted workflow loses its schedule.

use super::*;

#[tokio::test]
async fn two_registries_on_one_database_fire_each_tick_of_a_schedule_once() {
    let cluster = Cluster::new().await;
    let first = cluster.start_registry().await;
    let second = cluster.start_registry().await;
    let chatbot = cluster.chatbot().await;
    let mut jobs = cluster.jobs();

    let workflow = cluster
        .create_workflow(
            &first,
            &workflow_body(
                "every second",
                chatbot,
                schedule_flow(EVERY_SECOND, Some("Europe/Berlin")),
            ),
        )
        .await;
    let seen = jobs.during(Duration::from_millis(4200)).await;
    first.stop().await;
    second.stop().await;
    // Jobs the two committed before stopping may still be on their way.
    let mut seen = seen;
    seen.extend(jobs.during(Duration::from_millis(500)).await);

    let times = firings_of(workflow, &seen);
    assert!(
        (3..=6).contains(&times.len()),
        "about one firing a second for 4 s, got {times:?}"
    );
    let job = seen
        .iter()
        .find(|j| j.workflow_id == workflow.to_string())
        .unwrap();
    assert_eq!(job.chatbot_id, chatbot.to_string());
    let trigger = job.trigger.as_ref().unwrap();
    assert_eq!(trigger.chatbot_id, chatbot.to_string());
    let data = trigger_data(job);
    assert_eq!(data["cron"], EVERY_SECOND);
    assert_eq!(data["timezone"], "Europe/Berlin");
    assert!(at(data["fired_at"].as_str().unwrap()) >= scheduled_for(job));
}

#[tokio::test]
async fn after_a_stop_of_several_ticks_the_schedule_fires_once_then_ticks_on() {
    let cluster = Cluster::new().await;
    let first = cluster.start_registry().await;
    let second = cluster.start_registry().await;
    let chatbot = cluster.chatbot().await;
    let mut jobs = cluster.jobs();
    let workflow = cluster
        .create_workflow(
            &first,
            &workflow_body("every second", chatbot, schedule_flow(EVERY_SECOND, None)),
        )
        .await;
    let mut seen = vec![jobs.next().await, jobs.next().await];

    first.stop().await;
    second.stop().await;
    let pending = cluster
        .schedule_row(workflow)
        .await
        .expect("the schedule")
        .next_fire_at
        .expect("a next firing");
    // Everything is down while at least three firings fall due (the pending
    // one may still be up to a second ahead).
    let down_for = (pending + chrono::Duration::milliseconds(3200) - Utc::now())
        .to_std()
        .unwrap_or_default()
        .max(Duration::from_millis(3500));
    tokio::time::sleep(down_for).await;
    let restarted_at = Utc::now();
    assert!(restarted_at - pending >= chrono::Duration::seconds(3));
    let again = cluster.start_registry().await;
    seen.extend(jobs.during(Duration::from_millis(3000)).await);
    again.stop().await;
    seen.extend(jobs.during(Duration::from_millis(500)).await);

    let times = firings_of(workflow, &seen);
    let missed: Vec<_> = times
        .iter()
        .filter(|t| **t >= pending && **t <= restarted_at)
        .collect();
    assert_eq!(
        missed,
        vec![&pending],
        "one catch-up firing for the missed ones: {times:?}"
    );
    let catch_up = seen
        .iter()
        .find(|j| j.workflow_id == workflow.to_string() && scheduled_for(j) == pending)
        .unwrap();
    assert!(at(trigger_data(catch_up)["fired_at"].as_str().unwrap()) >= restarted_at);
    let after: Vec<_> = times.iter().filter(|t| **t > restarted_at).collect();
    assert!(
        after.len() >= 2,
        "ticking goes on after the catch-up: {times:?}"
    );
    assert!(times.iter().filter(|t| **t < pending).count() >= 2);
}

#[tokio::test]
async fn an_inactive_workflow_is_not_fired_and_a_deleted_one_loses_its_schedule() {
    let cluster = Cluster::new().await;
    let registry = cluster.start_registry().await;
    let chatbot = cluster.chatbot().await;
    let mut jobs = cluster.jobs();
    let workflow = cluster
        .create_workflow(
            &registry,
            &workflow_body("every second", chatbot, schedule_flow(EVERY_SECOND, None)),
        )
        .await;
    jobs.next().await;

    cluster
        .update_workflow(&registry, workflow, &json!({"is_active": false}))
        .await;
    let deactivated_at = Utc::now();
    let row = cluster.schedule_row(workflow).await.unwrap();
    assert!(!row.is_active);
    let while_inactive = jobs.during(Duration::from_millis(2500)).await;
    let late: Vec<_> = firings_of(workflow, &while_inactive)
        .into_iter()
        .filter(|t| *t > deactivated_at)
        .collect();
    assert!(late.is_empty(), "fired while inactive: {late:?}");

    // Activated again, it starts from now: nothing for the time it was off.
    let reactivating_at = Utc::now();
    cluster
        .update_workflow(&registry, workflow, &json!({"is_active": true}))
        .await;
    let job = jobs.next().await;
    assert!(scheduled_for(&job) > reactivating_at, "a stale firing");

    let url = format!("{}/api/v1/workflows/{workflow}", registry.address);
    let (status, body) = cluster.call(cluster.client.delete(url)).await;
    assert_eq!(status, 204, "{body}");
    let deleted_at = Utc::now();
    assert_eq!(cluster.schedule_row(workflow).await, None);
    let after_delete = jobs.during(Duration::from_millis(2500)).await;
    let late: Vec<_> = firings_of(workflow, &after_delete)
        .into_iter()
        .filter(|t| *t > deleted_at)
        .collect();
    assert!(late.is_empty(), "fired after delete: {late:?}");
    registry.stop().await;
}
