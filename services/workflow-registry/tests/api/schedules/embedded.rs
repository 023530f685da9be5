//! In embedded mode (SQLite, in-process bus): a bad cron or time zone is refused on
//! save with its path; a schedule fires and its event reaches other workflows.

use super::*;

#[tokio::test]
async fn an_invalid_cron_or_time_zone_is_refused_with_its_path() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    // The trigger second in the document: the path names its own index.
    let flow = |config: Value| {
        json!({
            "nodes": [
                node("set", "action.set", json!({"values": {"a": 1}})),
                node("start", "trigger.schedule", config),
            ],
            "edges": [edge("e1", "start", "set")]
        })
    };
    for (config, path) in [
        (
            json!({"cron": "61 * * * *"}),
            "flow_definition.nodes[1].data.config.cron",
        ),
        (
            json!({"cron": "every day"}),
            "flow_definition.nodes[1].data.config.cron",
        ),
        (
            json!({"cron": "* * * *"}),
            "flow_definition.nodes[1].data.config.cron",
        ),
        (
            json!({"cron": "0 0 30 2 *"}),
            "flow_definition.nodes[1].data.config.cron",
        ),
        (
            json!({"cron": "0 9 * * *", "timezone": "Mars/Olympus_Mons"}),
            "flow_definition.nodes[1].data.config.timezone",
        ),
        (
            json!({"timezone": "UTC"}),
            "flow_definition.nodes[1].data.config.cron",
        ),
    ] {
        let (status, body) = app
            .create_workflow(&workflow_body("bad", chatbot, flow(config.clone())))
            .await;
        assert_eq!(status, 422, "{config}: {body}");
        let error = assert_error(&body, "INVALID_WORKFLOW");
        assert_eq!(error["details"]["path"], path, "{config}: {body}");
    }

    let created = app
        .created(&workflow_body(
            "weekdays at nine",
            chatbot,
            flow(json!({"cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"})),
        ))
        .await;
    assert_eq!(created["trigger_type"], "trigger.schedule");
    let id = created["id"].as_str().unwrap();
    let (status, body) = app
        .update_workflow(
            id,
            &json!({"flow_definition": flow(json!({"cron": "0 9 * * 1-5", "timezone": "Berlin"}))}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let error = assert_error(&body, "INVALID_WORKFLOW");
    assert_eq!(
        error["details"]["path"],
        "flow_definition.nodes[1].data.config.timezone"
    );
    let (_, fetched) = app.get_workflow(id).await;
    assert_eq!(fetched["version"], 1);
}

#[tokio::test]
async fn in_embedded_mode_a_schedule_fires_and_its_event_reaches_other_workflows() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let mut jobs = app.consume(EXECUTOR_JOBS);
    let listener = app
        .created(&workflow_body(
            "on schedule.fired",
            chatbot,
            crate::helpers::event_flow("schedule.fired", None),
        ))
        .await;
    let scheduled = app
        .created(&workflow_body(
            "every second",
            chatbot,
            schedule_flow(EVERY_SECOND, None),
        ))
        .await;
    let listener = listener["id"].as_str().unwrap().to_string();
    let scheduled = Uuid::parse_str(scheduled["id"].as_str().unwrap()).unwrap();

    // Two firings, and the listener started by the event of each.
    let mut seen: Vec<ExecutionJob> = Vec::new();
    let started = std::time::Instant::now();
    let done = |seen: &[ExecutionJob]| {
        let fired: BTreeSet<String> = seen
            .iter()
            .filter(|j| j.workflow_id == scheduled.to_string())
            .map(|j| j.trigger.as_ref().unwrap().id.clone())
            .collect();
        let heard: BTreeSet<String> = seen
            .iter()
            .filter(|j| j.workflow_id == listener)
            .map(|j| j.trigger.as_ref().unwrap().id.clone())
            .collect();
        fired.len() >= 2 && fired.iter().take(2).all(|id| heard.contains(id))
    };
    while !done(&seen) {
        assert!(started.elapsed() < DEADLINE, "jobs so far: {}", seen.len());
        seen.push(jobs.next_job().await);
    }

    // The scheduled workflow was started by the scheduler only, once per
    // firing, and not again by its own event.
    let times = firings_of(scheduled, &seen);
    assert!(times.len() >= 2);
    for job in seen.iter().filter(|j| j.workflow_id == listener) {
        let trigger = job.trigger.as_ref().unwrap();
        assert_eq!(trigger.r#type, "schedule.fired");
        assert_eq!(trigger.source, "/registry/scheduler");
        assert_eq!(trigger_data(job)["cron"], EVERY_SECOND);
    }
}
