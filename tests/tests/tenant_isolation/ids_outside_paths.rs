//! A's ids where B may name them outside the path: in bodies, replay filters and list
//! filters; and the request B sends.

use super::*;

/// A's ids where B may name them outside the path: in a body that points a
/// new resource at A's chatbot, in a replay filter, in list filters.
pub(crate) async fn ids_in_bodies_and_queries(b: &Api, a: &Owned) {
    let a_bot = &a.chatbot.id;
    let b_bot = b.chatbot.clone().unwrap();
    post_refused(
        b,
        "/api/v1/workflows",
        &json!({"name": "into A's bot", "chatbot_id": a_bot, "flow_definition": flow("b")}),
        "POST /api/v1/workflows {chatbot_id: A's}",
    )
    .await;
    post_refused(
        b,
        &format!("/api/v1/templates/{TEMPLATE}/instantiate"),
        &json!({"chatbot_id": a_bot, "params": {"crm_url": "http://127.0.0.1:9/leads", "crm_api_key": "b-key"}}),
        "POST /api/v1/templates/{id}/instantiate {chatbot_id: A's}",
    )
    .await;
    let (status, own) = b
        .post(
            "/api/v1/workflows",
            &json!({"name": "B's own", "chatbot_id": b_bot.id, "flow_definition": flow("b")}),
        )
        .await;
    assert_eq!(status, 201, "{own}");
    post_refused(
        b,
        &format!("/api/v1/workflows/{}/copy", id_of(&own)),
        &json!({"chatbot_id": a_bot}),
        "POST /api/v1/workflows/{B's id}/copy {chatbot_id: A's}",
    )
    .await;
    // B's widget key does not open A's chatbot.
    let (status, body) = b
        .chat(
            &Chatbot {
                id: a_bot.clone(),
                api_key: b_bot.api_key.clone(),
            },
            json!({"message": "hello"}),
        )
        .await;
    println!(
        "{:<60} with B's key -> {status}",
        "POST /api/v1/chat {chatbot_id: A's}"
    );
    assert!(matches!(status, 401 | 403 | 404), "{status} {body}");
    // Replaying A's dead letter by id replays nothing of A's (the letter is
    // compared unchanged below).
    let (status, body) = b
        .post(
            "/api/v1/dead-letters/replay",
            &json!({"ids": [a.dead_letter]}),
        )
        .await;
    println!(
        "{:<60} as B -> {status} {body}",
        "POST /api/v1/dead-letters/replay {ids: [A's]}"
    );
    assert!(matches!(status, 202 | 404), "{status} {body}");
    for list in [
        format!("/api/v1/executions?workflow_id={}", a.workflow),
        format!("/api/v1/executions?chatbot_id={a_bot}"),
        format!("/api/v1/workflows?chatbot_id={a_bot}"),
        format!("/api/v1/dead-letters?workflow_id={}", a.workflow),
    ] {
        let (status, body) = b.get(&list).await;
        println!("{:<60} as B -> {status}", format!("GET {list}"));
        assert!(
            status == 404 || (status == 200 && body["items"].as_array().is_some_and(Vec::is_empty)),
            "{list} as B: {status} {body}"
        );
    }
}

/// B posts `body` to `path`, which names something of A's: 404.
pub(crate) async fn post_refused(b: &Api, path: &str, body: &Value, label: &str) {
    let (status, answer) = b.post(path, body).await;
    println!("{label:<60} as B -> {status}");
    assert_eq!(status, 404, "{answer}");
}

pub(crate) async fn send(b: &Api, method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut req = b
        .client
        .request(method, format!("{}{url}", b.base))
        .bearer_auth(b.token.as_deref().unwrap());
    if let Some(body) = body {
        req = req.json(body);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}
