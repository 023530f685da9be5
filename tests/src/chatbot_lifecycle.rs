//! A chatbot's end, both run modes: deleting a chatbot retires its
//! conversation-triggered, scheduled and webhook workflows and cancels its
//! waiting execution; erasing an end user removes their messages and the
//! payloads of the executions their conversation started, and nobody
//! else's.

use serde_json::{Value, json};
use std::time::{Duration, Instant};

use echoflow_test_support::api::{Api, Chatbot};

const DEADLINE: Duration = Duration::from_secs(15);

fn node(id: &str, kind: &str, config: Value) -> Value {
    json!({"id": id, "type": kind, "position": {"x": 0, "y": 0}, "data": {"label": id, "config": config}})
}

fn edge(id: &str, source: &str, target: &str) -> Value {
    json!({"id": id, "source": source, "target": target})
}

/// Creates a workflow of `bot`: `trigger` (with `config`), then `steps` in a row.
async fn workflow(
    api: &Api,
    bot: &Chatbot,
    name: &str,
    trigger: Value,
    steps: Vec<Value>,
) -> Value {
    let mut nodes = vec![trigger];
    let mut edges = Vec::new();
    for (i, step) in steps.into_iter().enumerate() {
        let source = nodes[i]["id"].as_str().unwrap().to_string();
        let target = step["id"].as_str().unwrap().to_string();
        edges.push(edge(&format!("e{i}"), &source, &target));
        nodes.push(step);
    }
    let (status, wf) = api
        .post(
            "/api/v1/workflows",
            &json!({"name": name, "chatbot_id": bot.id,
                    "flow_definition": {"nodes": nodes, "edges": edges}}),
        )
        .await;
    assert_eq!(status, 201, "{wf}");
    wf
}

/// A request with the caller's token and its answer.
async fn send(api: &Api, request: reqwest::RequestBuilder) -> (u16, Value) {
    let request = match &api.token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn erase(api: &Api, bot: &Chatbot, email: &str) -> (u16, Value) {
    let url = format!("{}/api/v1/chatbots/{}/end-users/{email}", api.base, bot.id);
    send(api, api.client.delete(url)).await
}

async fn call_hook(api: &Api, wf: &Value) -> u16 {
    let url = wf["webhook_url"].as_str().unwrap();
    let url = format!("{}{}", api.base, &url[url.find("/hooks/").unwrap()..]);
    api.client
        .post(url)
        .json(&json!({"order": 1}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Polls until `check` holds for the answer of `GET path`.
async fn wait_for(api: &Api, path: &str, what: &str, check: impl Fn(u16, &Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = api.get(path).await;
        if check(status, &body) {
            return body;
        }
        assert!(started.elapsed() < DEADLINE, "{what}: {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn runs(api: &Api, workflow_id: &str) -> u64 {
    let (status, list) = api
        .get(&format!("/api/v1/executions?workflow_id={workflow_id}"))
        .await;
    assert_eq!(status, 200, "{list}");
    list["total"].as_u64().unwrap()
}

/// Deleting a chatbot: its workflows are gone from the list, its webhook
/// answers 404, its schedule stops firing, its execution waiting in a delay
/// is cancelled, its conversations are deleted (the documented policy); the
/// owner's other chatbot keeps its workflow.
pub async fn deleting_a_chatbot_retires_its_workflows(api: &Api) {
    let bot = api.create_chatbot("Doomed", json!({})).await;
    let kept = api.create_chatbot("Kept", json!({})).await;
    let set = |id: &str| node(id, "action.set", json!({"values": {"ok": true}}));
    let waiting = workflow(
        api,
        &bot,
        "wait a minute",
        node("said", "trigger.message_received", json!({})),
        vec![
            node("pause", "action.delay", json!({"duration_ms": 60_000})),
            set("after"),
        ],
    )
    .await;
    let scheduled = workflow(
        api,
        &bot,
        "every second",
        node("tick", "trigger.schedule", json!({"cron": "* * * * * *"})),
        vec![set("note")],
    )
    .await;
    let hook = workflow(
        api,
        &bot,
        "hook",
        node("hook", "trigger.webhook", json!({})),
        vec![set("note")],
    )
    .await;
    let other = workflow(
        api,
        &kept,
        "other hook",
        node("hook", "trigger.webhook", json!({})),
        vec![set("note")],
    )
    .await;
    let (status, answer) = api
        .chat(
            &bot,
            json!({"message": "hello", "user_email": "ann@example.com"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let session = answer["session_id"].as_str().unwrap().to_string();
    let waiting_id = waiting["id"].as_str().unwrap();
    let execution = api.wait_runs(waiting_id, 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let scheduled_id = scheduled["id"].as_str().unwrap();
    api.wait_runs(scheduled_id, 1).await;
    assert_eq!(call_hook(api, &hook).await, 202);

    let status = api.delete(&format!("/api/v1/chatbots/{}", bot.id)).await;
    assert_eq!(status, 204);

    wait_for(
        api,
        &format!("/api/v1/workflows?chatbot_id={}", bot.id),
        "the deleted chatbot's workflows are listed",
        |s, b| s == 200 && b["total"] == 0,
    )
    .await;
    for wf in [&waiting, &scheduled, &hook] {
        let (status, body) = api
            .get(&format!("/api/v1/workflows/{}", wf["id"].as_str().unwrap()))
            .await;
        assert_eq!(status, 404, "{body}");
    }
    assert_eq!(
        call_hook(api, &hook).await,
        404,
        "the deleted chatbot's webhook"
    );
    assert_eq!(
        call_hook(api, &other).await,
        202,
        "the other chatbot's webhook"
    );
    let cancelled = api.wait_finished(&execution).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["error"], "cancelled: its chatbot was deleted");
    // Runs that were on their way at the deletion may still end; after that, none starts.
    let mut before = runs(api, scheduled_id).await;
    loop {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let now = runs(api, scheduled_id).await;
        if now == before {
            break;
        }
        before = now;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        runs(api, scheduled_id).await,
        before,
        "the schedule still fires"
    );
    let (status, body) = api
        .get(&format!("/api/v1/chatbots/{}/conversations", bot.id))
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = api
        .get(&format!("/api/v1/conversations/{session}/messages"))
        .await;
    assert_eq!(
        status, 404,
        "conversations are deleted with their chatbot: {body}"
    );
    let (status, list) = api
        .get(&format!("/api/v1/workflows?chatbot_id={}", kept.id))
        .await;
    assert_eq!((status, &list["total"]), (200, &json!(1)), "{list}");
}

/// The finished executions of `workflow_id`, once there are `count`.
async fn finished(api: &Api, workflow_id: &str, count: usize) -> Vec<Value> {
    let mut done = Vec::new();
    for run in api.wait_runs(workflow_id, count).await {
        done.push(api.wait_finished(run["id"].as_str().unwrap()).await);
    }
    done
}

/// Erasing an end user by email: their messages and their executions'
/// payloads go, another end user's stay; another owner cannot erase (404);
/// a repeat erases nothing more; the erasure is in the audit log.
pub async fn erasing_an_end_user(api: &Api, stranger: &Api) {
    let bot = api.create_chatbot("Erasure", json!({})).await;
    let echo = node(
        "echo",
        "action.set",
        json!({"values": {"said": "{{ trigger.data.text }}", "who": "{{ trigger.data.user_email }}"}}),
    );
    let wf = workflow(
        api,
        &bot,
        "echo",
        node("said", "trigger.message_received", json!({})),
        vec![echo],
    )
    .await;
    let mut sessions = Vec::new();
    for (email, text) in [
        ("Ann@Example.com", "my code is ann-1234"),
        ("bob@example.com", "my code is bob-5678"),
    ] {
        let (status, answer) = api
            .chat(&bot, json!({"message": text, "user_email": email}))
            .await;
        assert_eq!(status, 200, "{answer}");
        sessions.push(answer["session_id"].as_str().unwrap().to_string());
    }
    let runs = finished(api, wf["id"].as_str().unwrap(), 2).await;
    let of = |who: &str| {
        runs.iter()
            .find(|r| r["trigger"]["data"]["user_email"] == who)
            .unwrap_or_else(|| panic!("no run of {who}: {runs:?}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (anns, bobs) = (of("ann@example.com"), of("bob@example.com"));

    let (status, body) = erase(stranger, &bot, "ann%40example.com").await;
    assert_eq!(status, 404, "another owner cannot erase: {body}");
    let (status, erased) = erase(api, &bot, "ANN%40example.com").await;
    assert_eq!(status, 200, "{erased}");
    // The welcome message, hers and the reply.
    assert_eq!(
        erased["chat"],
        json!({"conversations": 1, "messages": 3, "tags": 0, "end_user": true})
    );

    let ann = wait_for(
        api,
        &format!("/api/v1/executions/{anns}"),
        "her execution's payloads",
        |s, b| s == 200 && b["trigger"]["data"] == json!({"erased": true}),
    )
    .await;
    let text = ann.to_string().to_lowercase();
    assert!(
        !text.contains("ann-1234") && !text.contains("ann@example.com"),
        "{ann}"
    );
    for step in ann["steps"].as_array().unwrap() {
        assert_eq!(
            (&step["input"], &step["output"]),
            (&Value::Null, &Value::Null),
            "{step}"
        );
        assert_eq!(step["status"], "completed", "what ran is kept: {step}");
    }
    let (_, bob) = api.get(&format!("/api/v1/executions/{bobs}")).await;
    assert!(
        bob.to_string().contains("bob-5678"),
        "his execution is untouched: {bob}"
    );
    let (status, body) = api
        .get(&format!("/api/v1/conversations/{}/messages", sessions[0]))
        .await;
    assert_eq!(status, 404, "her conversation is gone: {body}");
    let (status, messages) = api
        .get(&format!("/api/v1/conversations/{}/messages", sessions[1]))
        .await;
    assert_eq!(status, 200, "{messages}");
    assert!(messages.to_string().contains("bob-5678"), "{messages}");
    let (_, list) = api
        .get(&format!("/api/v1/chatbots/{}/conversations", bot.id))
        .await;
    assert_eq!(list["total"], 1, "{list}");
    wait_for(
        api,
        "/api/v1/audit-log?action=chatbot.end_user_erased",
        "the erasure's audit entry",
        |s, b| {
            s == 200
                && b["items"]
                    .as_array()
                    .is_some_and(|i| i.iter().any(|e| e["workflow_id"] == bot.id.as_str()))
        },
    )
    .await;

    let (status, again) = erase(api, &bot, "ann%40example.com").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["chat"],
        json!({"conversations": 0, "messages": 0, "tags": 0, "end_user": false})
    );
}
