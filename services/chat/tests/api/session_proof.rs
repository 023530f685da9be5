//! Run with: cargo test -p echoflow-chat --test api session_proof
//!
//! Continuing a conversation needs its session token: whoever knows a
//! session id, or an end user's email, plus the public widget key, can
//! neither write into someone else's conversation nor get answers informed
//! by it.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use crate::helpers::{EchoCompletion, assert_error, spawn_app, spawn_app_with_provider};

const COMPLETIONS: &str = "/v1/chat/completions";
const SECRET: &str = "My order 4242 goes to 12 Elm Street";

/// Every message content the provider was given, per request, in order.
async fn prompts(provider: &MockServer) -> Vec<String> {
    provider
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == COMPLETIONS)
        .map(|r| r.body_json::<Value>().unwrap()["messages"].to_string())
        .collect()
}

#[tokio::test]
async fn a_session_id_or_an_email_without_the_token_does_not_continue_a_conversation() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(EchoCompletion)
        .mount(&provider)
        .await;
    let app = spawn_app_with_provider(&provider, "", 5_000).await;
    let bot = app.chatbot_with(json!({"name": "Shop bot"})).await;
    let victim = app
        .say_with(
            &bot,
            json!({"message": SECRET, "user_email": "ann@example.com"}),
        )
        .await;
    let session = victim["session_id"].as_str().unwrap();
    let token = victim["session_token"].as_str().unwrap();
    assert!(token.starts_with("est_"), "{victim}");

    // By the session id, without the token or with a made-up one: 401, nothing stored.
    for forged in [None, Some("est_00"), Some("")] {
        let body = json!({"chatbot_id": bot.id, "message": "Where does my order go?", "session_id": session});
        let (status, answer) = app.chat_proving(Some(&bot.api_key), forged, &body).await;
        assert_eq!(status, 401, "{forged:?}: {answer}");
        let error = assert_error(&answer, "UNAUTHORIZED");
        assert_eq!(error["details"]["header"], "X-Session-Token");
        assert!(!answer.to_string().contains("4242"), "{answer}");
    }
    // By her email alone: a new conversation of that email, which knows nothing of hers.
    let (status, answer) = app
        .chat(
            Some(&bot.api_key),
            &json!({"chatbot_id": bot.id, "message": "Where does my order go?", "user_email": "ann@example.com"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["new_session"], true, "{answer}");
    assert_ne!(answer["session_id"], session);
    assert_ne!(answer["session_token"], token);
    let asked = prompts(&provider).await;
    assert_eq!(asked.len(), 2, "the refused requests reached no provider");
    assert!(
        !asked[1].contains("4242"),
        "the victim's memory leaked: {}",
        asked[1]
    );
    assert_eq!(
        app.messages(session).await["total"],
        2,
        "nothing written into hers"
    );

    // Her own widget, with the token, continues it with its memory, and gets the token again.
    let (status, own) = app
        .chat_proving(
            Some(&bot.api_key),
            Some(token),
            &json!({"chatbot_id": bot.id, "message": "Where does my order go?", "session_id": session,
                    "user_email": "ann@example.com"}),
        )
        .await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(
        (own["session_id"].as_str(), own["new_session"].as_bool()),
        (Some(session), Some(false))
    );
    assert_eq!(own["session_token"], token);
    let asked = prompts(&provider).await;
    assert!(asked[2].contains("4242"), "{}", asked[2]);
    assert_eq!(app.messages(session).await["total"], 4);
}

#[tokio::test]
async fn a_proven_conversation_that_is_gone_is_404() {
    let app = spawn_app().await;
    let bot = app.chatbot_with(json!({"name": "Shop bot"})).await;
    let answer = app
        .say_with(
            &bot,
            json!({"message": "hello", "user_email": "ann@example.com"}),
        )
        .await;
    let session = answer["session_id"].as_str().unwrap();
    let (status, _) = app
        .delete_as(
            &app.token,
            &format!("/api/v1/chatbots/{}/end-users/ann%40example.com", bot.id),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app
        .chat_proving(
            Some(&bot.api_key),
            answer["session_token"].as_str(),
            &json!({"chatbot_id": bot.id, "message": "still there?", "session_id": session}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_error(&body, "NOT_FOUND");
}
