//! What reaches a client: its own updates, in order and whole; never another user's;
//! filtered by workflow or execution.

use super::*;

#[tokio::test]
async fn a_client_receives_its_own_updates_in_order_with_every_field() {
    let app = spawn_app().await;
    let (me, token) = user(&app).await;
    let mut sse = Sse::open(&app, Auth::Header(&token), "").await;
    let run = Run::of(me);

    let at_started = publish(&app.bus, &run, started()).await;
    let at_fetch = publish(
        &app.bus,
        &run,
        Step {
            kind: UpdateKind::StepFinished,
            status: "completed",
            node_id: "fetch",
            error: "",
            duration_ms: 12,
        },
    )
    .await;
    let at_notify = publish(
        &app.bus,
        &run,
        Step {
            kind: UpdateKind::StepFinished,
            status: "failed",
            node_id: "notify",
            error: "HTTP 500 from the CRM",
            duration_ms: 7,
        },
    )
    .await;
    let at_finished = publish(
        &app.bus,
        &run,
        Step {
            error: "step notify failed",
            ..finished("failed")
        },
    )
    .await;

    let base = json!({
        "execution_id": run.execution,
        "workflow_id": run.workflow,
        "chatbot_id": run.chatbot,
    });
    let with = |fields: Value| {
        let mut expected = base.clone();
        expected
            .as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        expected
    };
    let expected = [
        (
            "started",
            with(
                json!({"kind": "started", "status": "running", "duration_ms": 0, "at": at_started}),
            ),
        ),
        (
            "step_finished",
            with(
                json!({"kind": "step_finished", "status": "completed", "node_id": "fetch",
                "duration_ms": 12, "at": at_fetch}),
            ),
        ),
        (
            "step_finished",
            with(
                json!({"kind": "step_finished", "status": "failed", "node_id": "notify",
                "error": "HTTP 500 from the CRM", "duration_ms": 7, "at": at_notify}),
            ),
        ),
        (
            "finished",
            with(
                json!({"kind": "finished", "status": "failed", "error": "step notify failed",
                "duration_ms": 40, "at": at_finished}),
            ),
        ),
    ];
    let mut last_id = 0;
    for (name, data) in expected {
        let (id, event, received) = sse.event().await;
        assert_eq!(event, name);
        assert_eq!(received, data);
        assert!(id > last_id, "ids increase: {id} after {last_id}");
        last_id = id;
    }
}

#[tokio::test]
async fn another_users_updates_never_reach_a_client() {
    let app = spawn_app().await;
    let (alice, alice_token) = user(&app).await;
    let (bob, bob_token) = user(&app).await;
    let mut alice_stream = Sse::open(&app, Auth::Header(&alice_token), "").await;
    let mut bob_stream = Sse::open(&app, Auth::Header(&bob_token), "").await;
    let (alices, bobs, strangers) = (Run::of(alice), Run::of(bob), Run::of(Uuid::new_v4()));

    publish(&app.bus, &bobs, started()).await;
    publish(&app.bus, &strangers, started()).await;
    publish(&app.bus, &alices, started()).await;
    publish(&app.bus, &bobs, finished("completed")).await;
    publish(&app.bus, &strangers, finished("completed")).await;
    publish(&app.bus, &alices, finished("completed")).await;

    for stream_and_run in [(&mut alice_stream, alices), (&mut bob_stream, bobs)] {
        let (stream, run) = stream_and_run;
        let (_, first, data) = stream.event().await;
        assert_eq!(
            (first.as_str(), execution_of(&data)),
            ("started", run.execution)
        );
        // The next one is its own `finished`: everything of others published in between was skipped.
        let (_, second, data) = stream.event().await;
        assert_eq!(
            (second.as_str(), execution_of(&data)),
            ("finished", run.execution)
        );
    }
}

#[tokio::test]
async fn filters_select_by_workflow_and_by_execution() {
    let app = spawn_app().await;
    let (me, token) = user(&app).await;
    let workflow = Uuid::new_v4();
    let (first, second) = (
        Run::in_workflow(me, workflow),
        Run::in_workflow(me, workflow),
    );
    let (elsewhere, stray) = (Run::of(me), Run::of(me));
    let auth = || Auth::Header(&token);
    let mut by_workflow = Sse::open(&app, auth(), &format!("workflow_id={workflow}")).await;
    let mut by_execution = Sse::open(
        &app,
        auth(),
        &format!("execution_id={}", elsewhere.execution),
    )
    .await;
    let mut by_both = Sse::open(
        &app,
        auth(),
        &format!("workflow_id={workflow}&execution_id={}", first.execution),
    )
    .await;

    publish(&app.bus, &first, started()).await;
    publish(&app.bus, &elsewhere, started()).await;
    publish(&app.bus, &second, started()).await;
    publish(&app.bus, &stray, started()).await;
    publish(&app.bus, &elsewhere, finished("completed")).await;
    publish(&app.bus, &first, finished("completed")).await;

    async fn next(sse: &mut Sse) -> (String, Uuid) {
        let (_, event, data) = sse.event().await;
        (event, execution_of(&data))
    }
    let (started, finished) = ("started".to_owned(), "finished".to_owned());
    let mut workflow_events = Vec::new();
    for _ in 0..3 {
        workflow_events.push(next(&mut by_workflow).await);
    }
    assert_eq!(
        workflow_events,
        [
            (started.clone(), first.execution),
            (started.clone(), second.execution),
            (finished.clone(), first.execution),
        ]
    );
    assert_eq!(
        [next(&mut by_execution).await, next(&mut by_execution).await],
        [
            (started.clone(), elsewhere.execution),
            (finished.clone(), elsewhere.execution)
        ]
    );
    assert_eq!(
        [next(&mut by_both).await, next(&mut by_both).await],
        [(started, first.execution), (finished, first.execution)]
    );

    let response = stream_request(&app, Auth::Header(&token), "workflow_id=not-a-uuid").await;
    let (status, body) = read(response).await;
    assert_eq!(status, 422, "{body}");
    assert_error(&body, "VALIDATION_ERROR");
}
