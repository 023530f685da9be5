//! An open stream's life: keep-alive comments, shutdown, and its OpenAPI description.

use super::*;

#[tokio::test]
async fn an_idle_stream_gets_keep_alive_comments() {
    let app = spawn_app_with_settings(vec![("live.keep_alive_secs", "1".into())]).await;
    let (_, token) = user(&app).await;
    let mut sse = Sse::open(&app, Auth::Header(&token), "").await;
    for _ in 0..2 {
        assert_eq!(sse.frame().await, Some(Frame::Comment("keep-alive".into())));
    }
}

#[tokio::test]
async fn shutdown_ends_open_streams_and_the_gateway_stops_promptly() {
    let mut app = spawn_app().await;
    let (me, token) = user(&app).await;
    let mut first = Sse::open(&app, Auth::Header(&token), "").await;
    let mut second = Sse::open(&app, Auth::Query(&token), "").await;
    publish(&app.bus, &Run::of(me), started()).await;
    first.event().await;
    second.event().await;

    let began = tokio::time::Instant::now();
    // Well under the server's 10 s graceful-stop timeout: the streams do not hold it up.
    app.stop(Duration::from_secs(5)).await;
    assert!(began.elapsed() < Duration::from_secs(5));
    for stream in [&mut first, &mut second] {
        loop {
            match stream.frame().await {
                None => break,
                Some(Frame::Comment(_)) => {}
                Some(event) => panic!("an event after shutdown: {event:?}"),
            }
        }
    }
}

#[tokio::test]
async fn the_openapi_document_describes_the_stream() {
    let app = spawn_app().await;
    let (status, doc) = read(app.get("/api/openapi.json").await).await;
    assert_eq!(status, 200);
    let get = &doc["paths"][STREAM]["get"];
    assert!(get.is_object(), "{}", doc["paths"]);
    let params: Vec<&str> = get["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["workflow_id", "execution_id", "access_token"]);
    assert!(
        get["responses"]["200"]["content"]["text/event-stream"].is_object(),
        "{get}"
    );
    let schema = &doc["components"]["schemas"]["ExecutionUpdateEvent"]["properties"];
    for field in [
        "execution_id",
        "workflow_id",
        "chatbot_id",
        "kind",
        "status",
        "node_id",
        "error",
        "duration_ms",
        "at",
    ] {
        assert!(schema[field].is_object(), "{field} missing from {schema}");
    }
}
