//! How a stream request authenticates: the token in the header or the query; 401 otherwise.

use super::*;

#[tokio::test]
async fn the_stream_takes_the_token_as_a_query_parameter_too() {
    let app = spawn_app().await;
    let (me, token) = user(&app).await;
    let wanted = Run::of(me);
    let mut sse = Sse::open(
        &app,
        Auth::Query(&token),
        &format!("execution_id={}", wanted.execution),
    )
    .await;

    publish(&app.bus, &Run::of(me), started()).await;
    publish(&app.bus, &Run::of(Uuid::new_v4()), started()).await;
    publish(&app.bus, &wanted, started()).await;

    let (_, event, data) = sse.event().await;
    assert_eq!(
        (event.as_str(), execution_of(&data)),
        ("started", wanted.execution)
    );
}

#[tokio::test]
async fn without_a_token_the_stream_is_401() {
    let app = spawn_app().await;
    let (status, body) = read(
        streaming_client()
            .get(app.url(STREAM))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_error(&body, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_bad_token_is_401_in_the_header_and_in_the_query() {
    let app = spawn_app().await;
    let (_, token) = user(&app).await;
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    let foreign = {
        let keys = echoflow_service_kit::JwtKeys::new(
            &secrecy::SecretString::from("another-secret-of-enough-length-0123456789"),
            60,
        );
        keys.issue(Uuid::new_v4(), "mallory@example.com").unwrap()
    };
    for bad in ["not-a-jwt", tampered.as_str(), foreign.as_str()] {
        for auth in [Auth::Header(bad), Auth::Query(bad)] {
            let (status, body) = read(stream_request(&app, auth, "").await).await;
            assert_eq!(status, 401, "{bad}: {body}");
            assert_error(&body, "UNAUTHORIZED");
        }
    }
}
