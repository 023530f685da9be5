//! Run with: cargo test -p echoflow-e2e --test tenant_isolation
//!
//! The tenant-isolation matrix, generated from the gateway's OpenAPI document
//! against `echoflow up`: user A owns one of every resource; for every
//! operation whose path names a resource, user B (signed in, with its own
//! data) calls it with A's ids and must get 404 (or a 403 the operation
//! documents), and afterwards every GET of A's answers exactly as before.
//! Path parameters are filled by name from one table; a parameter the table
//! does not know fails the test, naming the operation, so a new route is
//! covered (or consciously excluded here) without anyone remembering to.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use echoflow_e2e::integrations;
use echoflow_test_support::api::{Api, Chatbot};
use echoflow_test_support::{Service, free_port};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod ids_outside_paths;
mod operations;
mod tenant_a;

use ids_outside_paths::*;
use operations::*;
use tenant_a::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_reaches_nothing_of_a_tenant_through_any_operation_with_an_id() {
    let slack = fake_slack().await;
    let (mut up, dir) = start(&slack).await;
    let base = up.base_url();
    let a = sign_up(&base, "tenant-a@example.com").await;
    let b = sign_up(&base, "tenant-b@example.com").await;
    let b_bot = b.chatbot.clone().unwrap().id;
    let mut owned = populate(&a).await;
    let connection = integrations::connect(&a, "slack").await;
    owned.connection = id_of(&connection);

    let (status, doc) = a.get("/api/openapi.json").await;
    assert_eq!(status, 200, "{doc}");
    let ops = operations(&doc);
    let before = snapshot(&a, &ops, &owned).await;
    println!(
        "{} GET answers of A's compared before and after",
        before.len()
    );
    for (url, (status, body)) in &before {
        assert_eq!(*status, 200, "A reads its own {url}: {body}");
    }

    let mut unknown = Vec::new();
    let mut wrong = Vec::new();
    let mut covered = 0;
    for op in ops.iter().filter(|o| !path_params(&o.path).is_empty()) {
        if !op.takes_bearer() {
            println!(
                "{:<60} not called: a chatbot-key route (its key decides, see chat's tests)",
                op.label()
            );
            continue;
        }
        let (url, any_owned) = match fill_path(op, &owned, &mut unknown) {
            Filled::Url(url, owned) => (url, owned),
            Filled::Excluded(reason) => {
                println!("{:<60} not called: {reason}", op.label());
                continue;
            }
        };
        let body = body_for(op, &doc, &b_bot);
        let (status, answer) = send(&b, &op.method, &url, body.as_ref()).await;
        println!("{:<60} as B -> {status}", op.label());
        let expected = if any_owned {
            covered += 1;
            op.refusals().contains(&status)
        } else {
            (200..300).contains(&status)
        };
        if !expected {
            wrong.push(format!("{} ({url}) as B: {status} {answer}", op.label()));
        }
    }
    println!("{covered} operations on A's resources called as B");
    assert!(
        unknown.is_empty(),
        "path parameters the isolation table does not know; add them to `fill` \
         (an owned id, shared, or excluded with its reason):\n{}",
        unknown.join("\n")
    );
    assert!(
        wrong.is_empty(),
        "B got something other than 404 (or a documented 403) for A's resources:\n{}",
        wrong.join("\n")
    );

    ids_in_bodies_and_queries(&b, &owned).await;

    // A's data is as it was, lists included (B created nothing in A's account).
    let after = snapshot(&a, &ops, &owned).await;
    for (url, was) in &before {
        assert_eq!(after.get(url), Some(was), "A's {url} changed");
    }
    // B's test and delete of A's connection reached no provider: the one
    // request Slack saw is A's code exchange.
    let calls = slack.received_requests().await.unwrap();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].url.path(), "/api/oauth.v2.access");
    // The widget key B tried to rotate still works for A's chatbot.
    let (status, reply) = a
        .chat(&owned.chatbot, json!({"message": "Still there?"}))
        .await;
    assert_eq!(status, 200, "{reply}");

    up.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
