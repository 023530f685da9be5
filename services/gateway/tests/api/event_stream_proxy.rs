//! Run with: cargo test -p echoflow-gateway --test api event_stream_proxy
//!
//! A proxied `text/event-stream` answer is passed on as it arrives (a chat
//! session stream through the gateway), and its query credentials become
//! headers, out of the forwarded URI.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use echoflow_test_support::sse::{EventStream, Frame};
use tokio::sync::mpsc;

use crate::helpers::{closed_loopback_url, spawn_app_configured};

type Frames = Arc<Mutex<Option<mpsc::Receiver<String>>>>;
type Seen = Arc<Mutex<Vec<(String, Option<String>, Option<String>)>>>;

/// A chat stand-in whose session stream sends what the test pushes, and
/// holds the connection open until the test drops its sender.
async fn streaming_upstream() -> (String, mpsc::Sender<String>, Seen) {
    let (sender, receiver) = mpsc::channel::<String>(8);
    let frames: Frames = Arc::new(Mutex::new(Some(receiver)));
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (frames_data, seen_data) = (frames.clone(), seen.clone());
    let server = HttpServer::new(move || {
        let (frames, seen) = (frames_data.clone(), seen_data.clone());
        App::new().route(
            "/api/v1/chat/sessions/{id}/stream",
            web::get().to(move |req: HttpRequest| {
                let (frames, seen) = (frames.clone(), seen.clone());
                async move {
                    let header = |name: &str| {
                        req.headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    seen.lock().unwrap().push((
                        req.uri().to_string(),
                        header("x-session-token"),
                        header("x-chatbot-key"),
                    ));
                    let receiver = frames.lock().unwrap().take().unwrap();
                    let body = futures::stream::unfold(receiver, |mut r| async move {
                        let frame = r.recv().await?;
                        Some((Ok::<_, actix_web::Error>(web::Bytes::from(frame)), r))
                    });
                    HttpResponse::Ok()
                        .content_type("text/event-stream")
                        .streaming(body)
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (address, sender, seen)
}

#[tokio::test]
async fn an_event_stream_is_relayed_as_it_arrives_with_its_query_credentials_as_headers() {
    let (chat, frames, seen) = streaming_upstream().await;
    let app = spawn_app_configured(
        &closed_loopback_url(),
        &closed_loopback_url(),
        vec![("services.chat_url", chat)],
    )
    .await;
    frames.send(": connected\n\n".into()).await.unwrap();

    let response = app
        .client
        .get(app.url(
            "/api/v1/chat/sessions/s-1/stream?chatbot_key=ecb_key&session_token=est_token&x=1",
        ))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "{:?}",
        response.headers()
    );
    let mut events = EventStream::new(response);
    // The upstream is still open: only a relay that streams has passed this on.
    let first = events.next_frame(Duration::from_secs(5)).await;
    assert_eq!(first, Some(Frame::Comment(": connected".into())));
    frames
        .send("id: 1\nevent: message\ndata: {\"content\":\"later\"}\n\n".into())
        .await
        .unwrap();
    let (id, data) = events.next_event(Duration::from_secs(5)).await;
    assert_eq!(id.as_deref(), Some("1"));
    assert_eq!(data["content"], "later");
    // The upstream ends its body: so does the relayed stream.
    drop(frames);
    assert_eq!(events.next_frame(Duration::from_secs(5)).await, None);

    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![(
            "/api/v1/chat/sessions/s-1/stream?x=1".to_string(),
            Some("est_token".to_string()),
            Some("ecb_key".to_string()),
        )]
    );
}
