//! Run with: cargo test -p echoflow-executor --test api engine
//!
//! What the engine does with a job, as `GET /api/v1/executions/{id}` shows it:
//! the steps a plan runs (conditions, switch, merge, delay), recovery after a
//! restart, and the output limit. Steps that fail: `step_failures.rs`.

use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

/// webhook -> http_request -> condition.if -(true)-> paid / -(false)-> unpaid.
fn order_flow(server: &MockServer) -> Workflow {
    Workflow::new(definition(
        vec![
            webhook("hook"),
            node(
                "fetch",
                "action.http_request",
                json!({
                    "method": "POST",
                    "url": format!("{}/orders/{{{{ trigger.data.body.order_id }}}}", server.uri()),
                    "headers": {"x-trace": "trace-{{ trigger.data.body.order_id }}"},
                    "body": {
                        "customer": "{{ trigger.data.body.customer }}",
                        "qty": "{{ trigger.data.body.qty }}"
                    }
                }),
            ),
            node(
                "check",
                "condition.if",
                json!({"condition": "steps.fetch.output.body.state == 'paid'"}),
            ),
            node(
                "paid",
                "action.set",
                json!({"values": {
                    "message": "order {{ trigger.data.body.order_id }} is {{ steps.fetch.output.body.state }}",
                    "total": "{{ steps.fetch.output.body.total }}",
                    "http_status": "{{ steps.fetch.output.status }}"
                }}),
            ),
            node(
                "unpaid",
                "action.set",
                json!({"values": {"message": "order {{ trigger.data.body.order_id }} awaits payment"}}),
            ),
        ],
        vec![
            edge("hook", "fetch"),
            edge("fetch", "check"),
            edge_by("check", "true", "paid"),
            edge_by("check", "false", "unpaid"),
        ],
    ))
}

async fn mount_order(server: &MockServer, state: &str) {
    Mock::given(method("POST"))
        .and(path("/orders/42"))
        .and(header("x-trace", "trace-42"))
        .and(body_json(json!({"customer": "ada", "qty": 3})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"state": state, "total": 99.5})),
        )
        .expect(1)
        .mount(server)
        .await;
}

fn order() -> Value {
    json!({"order_id": 42, "customer": "ada", "qty": 3})
}

#[tokio::test]
async fn webhook_http_if_set_records_every_step_with_rendered_input_and_output() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let server = MockServer::start().await;
    mount_order(&server, "paid").await;
    let workflow = order_flow(&server);
    let job = workflow.job(&user, order());

    let execution = app.run(&job, &user).await;

    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(execution["error"], Value::Null);
    assert_eq!(execution["id"], job.execution_id.as_str());
    assert_eq!(execution["workflow_id"], workflow.id.to_string());
    assert_eq!(execution["workflow_version"], 1);
    assert_eq!(execution["chatbot_id"], workflow.chatbot_id.to_string());
    assert_eq!(execution["trigger"]["type"], "webhook.received");
    assert_eq!(execution["trigger"]["data"]["body"], order());
    assert!(execution["started_at"].is_string(), "{execution}");
    assert!(execution["completed_at"].is_string(), "{execution}");
    assert_eq!(step_ids(&execution), ["fetch", "check", "paid"]);

    let fetch = step(&execution, "fetch");
    assert_eq!(fetch["node_type"], "action.http_request");
    assert_eq!(fetch["status"], "completed");
    assert_eq!(fetch["attempts"], 1);
    assert_eq!(
        fetch["input"],
        json!({
            "method": "POST",
            "url": format!("{}/orders/42", server.uri()),
            "headers": {"x-trace": "trace-42"},
            "body": {"customer": "ada", "qty": 3}
        }),
        "the input is the config with its expressions rendered, numbers kept numbers"
    );
    assert_eq!(fetch["output"]["status"], 200);
    assert_eq!(
        fetch["output"]["body"],
        json!({"state": "paid", "total": 99.5})
    );
    assert_eq!(
        fetch["output"]["headers"]["content-type"],
        "application/json"
    );
    assert_eq!(fetch["error"], Value::Null);

    let check = step(&execution, "check");
    assert_eq!(check["node_type"], "condition.if");
    assert_eq!(check["status"], "completed");
    assert_eq!(
        check["input"],
        json!({"condition": "steps.fetch.output.body.state == 'paid'"})
    );
    assert_eq!(check["output"], json!({"result": true}));

    let paid = step(&execution, "paid");
    assert_eq!(paid["status"], "completed");
    let values = json!({"message": "order 42 is paid", "total": 99.5, "http_status": 200});
    assert_eq!(paid["input"], json!({"values": values}));
    assert_eq!(paid["output"], values);
    // `.expect(1)` on the mock: exactly one matching request, checked on drop.
}

#[tokio::test]
async fn condition_if_false_runs_only_the_false_branch() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let server = MockServer::start().await;
    mount_order(&server, "pending").await;
    let workflow = order_flow(&server);

    let execution = app.run(&workflow.job(&user, order()), &user).await;

    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(
        step_ids(&execution),
        ["fetch", "check", "unpaid"],
        "the true branch must not run"
    );
    assert_eq!(
        step(&execution, "check")["output"],
        json!({"result": false})
    );
    assert_eq!(
        step(&execution, "unpaid")["output"],
        json!({"message": "order 42 awaits payment"})
    );
}

fn switch_flow() -> Workflow {
    Workflow::new(definition(
        vec![
            webhook("hook"),
            node(
                "route",
                "condition.switch",
                json!({"cases": [
                    {"handle": "big", "condition": "trigger.data.body.amount > 100"},
                    {"handle": "small", "condition": "{{ trigger.data.body.amount > 0 }}"}
                ]}),
            ),
            node("on_big", "action.set", json!({"values": {"size": "big"}})),
            node(
                "on_small",
                "action.set",
                json!({"values": {"size": "small"}}),
            ),
            node(
                "on_default",
                "action.set",
                json!({"values": {"size": "none"}}),
            ),
        ],
        vec![
            edge("hook", "route"),
            edge_by("route", "big", "on_big"),
            edge_by("route", "small", "on_small"),
            edge_by("route", "default", "on_default"),
        ],
    ))
}

#[tokio::test]
async fn condition_switch_leaves_by_the_first_matching_case_or_default() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let workflow = switch_flow();

    for (amount, handle, target) in [
        (500, "big", "on_big"),
        (5, "small", "on_small"),
        (-1, "default", "on_default"),
    ] {
        let job = workflow.job(&user, json!({"amount": amount}));
        let execution = app.run(&job, &user).await;
        assert_eq!(execution["status"], "completed", "{execution}");
        assert_eq!(
            step_ids(&execution),
            ["route", target],
            "amount {amount} goes to {target} only"
        );
        assert_eq!(
            step(&execution, "route")["output"],
            json!({"handle": handle}),
            "amount {amount}"
        );
    }
}

#[tokio::test]
async fn flow_merge_outputs_the_incoming_outputs_by_node_id_and_delay_records_its_wait() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let workflow = Workflow::new(definition(
        vec![
            webhook("hook"),
            node("left", "action.set", json!({"values": {"x": 1}})),
            node(
                "right",
                "action.set",
                json!({"values": {"name": "{{ trigger.data.body.name }}"}}),
            ),
            node("join", "flow.merge", json!({})),
            node("pause", "action.delay", json!({"duration_ms": 20})),
        ],
        vec![
            edge("hook", "left"),
            edge("hook", "right"),
            edge("left", "join"),
            edge("right", "join"),
            edge("join", "pause"),
        ],
    ));

    let execution = app
        .run(&workflow.job(&user, json!({"name": "ada"})), &user)
        .await;

    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(step_ids(&execution), ["left", "right", "join", "pause"]);
    assert_eq!(
        step(&execution, "join")["output"],
        json!({"left": {"x": 1}, "right": {"name": "ada"}})
    );
    let pause = step(&execution, "pause");
    assert_eq!(pause["status"], "completed");
    assert_eq!(pause["input"], json!({"duration_ms": 20}));
    assert_eq!(pause["output"], json!({"waited_ms": 20}));
}

#[tokio::test]
async fn flow_merge_after_a_condition_holds_only_the_branch_that_ran() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let workflow = Workflow::new(definition(
        vec![
            webhook("hook"),
            node(
                "check",
                "condition.if",
                json!({"condition": "trigger.data.body.vip"}),
            ),
            node("gold", "action.set", json!({"values": {"tier": "gold"}})),
            node("basic", "action.set", json!({"values": {"tier": "basic"}})),
            node("join", "flow.merge", json!({})),
        ],
        vec![
            edge("hook", "check"),
            edge_by("check", "true", "gold"),
            edge_by("check", "false", "basic"),
            edge("gold", "join"),
            edge("basic", "join"),
        ],
    ));

    let execution = app
        .run(&workflow.job(&user, json!({"vip": false})), &user)
        .await;

    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(step_ids(&execution), ["check", "basic", "join"]);
    assert_eq!(
        step(&execution, "join")["output"],
        json!({"basic": {"tier": "basic"}})
    );
}

#[tokio::test]
async fn recover_on_start_runs_an_execution_announced_before_a_restart() {
    let db_path = temp_db_path();
    let user = TestUser::new();
    let workflow = Workflow::new(definition(
        vec![
            webhook("hook"),
            node(
                "greet",
                "action.set",
                json!({"values": {"greeting": "hello {{ trigger.data.body.name }}"}}),
            ),
        ],
        vec![edge("hook", "greet")],
    ));
    let job = workflow.job(&user, json!({"name": "ada"}));
    let mut first = spawn_app_with(Options {
        db_path: Some(db_path.clone()),
        ..Options::default()
    })
    .await;
    // Announced but never delivered: its job was lost with the in-process queue.
    let announced = first
        .announce(prost::Message::encode_to_vec(&job), Some(INTERNAL_TOKEN))
        .await;
    assert_eq!(announced.status(), 202);
    first.stop().await;

    let second = spawn_app_with(Options {
        db_path: Some(db_path.clone()),
        recover_on_start: true,
        ..Options::default()
    })
    .await;
    let execution = second.wait_final(&job.execution_id, &user).await;

    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(
        step(&execution, "greet")["output"],
        json!({"greeting": "hello ada"})
    );
    drop(second);
    for suffix in ["", "-wal", "-shm"] {
        let mut path = db_path.clone().into_os_string();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
}

#[tokio::test]
async fn an_output_over_the_limit_fails_the_step_instead_of_being_truncated() {
    let app = spawn_app_with(Options {
        max_output_bytes: 1000,
        ..Options::default()
    })
    .await;
    let user = TestUser::new();
    let workflow = Workflow::new(definition(
        vec![
            webhook("hook"),
            node("small", "action.set", json!({"values": {"ok": true}})),
            node(
                "big",
                "action.set",
                json!({"values": {"blob": "{{ 'x' * 2000 }}"}}),
            ),
        ],
        vec![edge("hook", "small"), edge("small", "big")],
    ));

    let execution = app.run(&workflow.job(&user, json!({})), &user).await;

    assert_eq!(execution["status"], "failed", "{execution}");
    assert_eq!(step(&execution, "small")["status"], "completed");
    let big = step(&execution, "big");
    assert_eq!(big["status"], "failed");
    let error = big["error"].as_str().unwrap();
    assert!(error.contains("over the limit of 1000"), "{error}");
    assert!(big["output"].is_null(), "nothing truncated is recorded");
}
