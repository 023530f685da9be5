//! Run with: cargo test -p echoflow-executor --test api expressions
//!
//! A hostile expression in a step fails that step with a configuration error (one attempt,
//! no retry), and the executor goes on running: before the sandbox's guards, the first
//! allocated about 2 GB and completed, the second overflowed the worker's stack and
//! aborted the process.

use serde_json::{Value, json};

use crate::helpers::*;

fn set_workflow(value: &str) -> Workflow {
    Workflow::new(definition(
        vec![
            webhook("hook"),
            node("s", "action.set", json!({"values": {"v": value}})),
        ],
        vec![edge("hook", "s")],
    ))
}

fn assert_configuration_failure(execution: &Value, expected: &str) {
    assert_eq!(execution["status"], "failed", "{execution}");
    let s = step(execution, "s");
    assert_eq!(s["status"], "failed", "{execution}");
    assert_eq!(
        s["attempts"], 1,
        "a configuration error is not retried: {execution}"
    );
    let error = s["error"].as_str().unwrap_or_default();
    assert!(error.contains(expected), "{error}");
}

#[tokio::test]
async fn an_expression_that_would_allocate_gigabytes_fails_its_step() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let bomb = set_workflow("{% set a='x'*31623 %}{{ (a|replace('x',a))|length }}");
    let execution = app.run(&bomb.job(&user, json!({})), &user).await;
    assert_configuration_failure(&execution, "larger than");

    let doubling = set_workflow(
        "{% set ns = namespace(a=trigger.data.body.seed) %}{% for i in range(40) %}{% set ns.a = ns.a ~ ns.a %}{% endfor %}{{ ns.a|length }}",
    );
    let execution = app
        .run(
            &doubling.job(&user, json!({"seed": "x".repeat(1000)})),
            &user,
        )
        .await;
    assert_configuration_failure(&execution, "larger than");

    // the executor is still there and runs the next workflow
    let fine = set_workflow("{{ trigger.data.body.n * 2 }}");
    let execution = app.run(&fine.job(&user, json!({"n": 21})), &user).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(step(&execution, "s")["output"], json!({"v": 42}));
}

#[tokio::test]
async fn a_plan_with_a_deep_chain_fails_its_step_instead_of_overflowing_the_stack() {
    // the registry refuses such a graph; a plan published on the bus by anything else
    // reaches the executor all the same
    let app = spawn_app().await;
    let user = TestUser::new();
    let mut workflow = set_workflow("{{ 1 }}");
    let deep = format!("{{{{ {}1 }}}}", "-".repeat(6000));
    for planned in workflow.plan.nodes.iter_mut().filter(|n| n.id == "s") {
        planned.config = json!({"values": {"v": deep}});
    }
    let execution = app.run(&workflow.job(&user, json!({})), &user).await;
    assert_configuration_failure(&execution, "too deeply nested");
}
