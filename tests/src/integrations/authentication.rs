//! The authentication class end to end: a provider's 401 refreshed and retried by
//! integrations, then retried once more by the executor.

use super::*;

/// The authentication class, end to end: Google Sheets refuses the token
/// with 401. Integrations refreshes it and tries again once; when the
/// provider still refuses, the executor retries the step once more (with
/// the refreshed token). A provider that accepts the refreshed token on that
/// retry completes the run in 2 attempts; one that keeps refusing fails it
/// after 2. Counts every append and refresh the fake provider saw.
pub async fn authentication_class(api: &Api, fakes: &FakeProviders) {
    const REFRESHED: &str = "ya29.e2e-refreshed-access-token";
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": REFRESHED, "expires_in": 3599, "token_type": "Bearer"
        })))
        .mount(&fakes.google)
        .await;
    let unauthorized = ResponseTemplate::new(401).set_body_json(json!({
        "error": {"code": 401, "status": "UNAUTHENTICATED", "message": "Invalid Credentials"}
    }));
    // Refuses the first 2 appends (the old token, then the refreshed one).
    Mock::given(method("POST"))
        .and(path("/v4/spreadsheets/sheet-late/values/Sheet1:append"))
        .respond_with(unauthorized.clone())
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&fakes.google)
        .await;
    Mock::given(method("POST"))
        .and(path("/v4/spreadsheets/sheet-late/values/Sheet1:append"))
        .and(header("authorization", format!("Bearer {REFRESHED}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "spreadsheetId": "sheet-late",
            "updates": {"updatedRange": "Sheet1!A2:A2", "updatedRows": 1}
        })))
        .mount(&fakes.google)
        .await;
    Mock::given(method("POST"))
        .and(path("/v4/spreadsheets/sheet-never/values/Sheet1:append"))
        .respond_with(unauthorized)
        .mount(&fakes.google)
        .await;
    let sheets = connect(api, "google_sheets").await;
    let append_to = |sheet: &str| {
        chain(
            &format!("append to {sheet}"),
            api.chatbot_id(),
            vec![
                node("hook", "trigger.webhook", json!({})),
                node(
                    "log",
                    "action.sheets_append_row",
                    json!({
                        "connection_id": sheets["id"], "spreadsheet_id": sheet, "range": "Sheet1",
                        "values": ["{{ trigger.data.body.email }}"]
                    }),
                ),
            ],
        )
    };
    let refreshes = |requests: &[wiremock::Request]| {
        requests
            .iter()
            .filter(|r| {
                r.url.path() == "/token"
                    && String::from_utf8_lossy(&r.body).contains("grant_type=refresh_token")
            })
            .count()
    };

    let late = create(api, &append_to("sheet-late")).await;
    let run = hook(api, &late, &json!({"email": "ana@example.com"})).await;
    let execution = api.wait_finished(&run).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(execution["steps"][0]["attempts"], 2, "{execution}");
    assert_eq!(
        execution["steps"][0]["output"]["updated_rows"], 1,
        "{execution}"
    );
    let requests = fakes.google.received_requests().await.unwrap();
    let appends: Vec<&wiremock::Request> = requests
        .iter()
        .filter(|r| r.url.path() == "/v4/spreadsheets/sheet-late/values/Sheet1:append")
        .collect();
    let tokens: Vec<&str> = appends
        .iter()
        .map(|r| r.headers.get("authorization").unwrap().to_str().unwrap())
        .collect();
    let refreshed = format!("Bearer {REFRESHED}");
    assert_eq!(
        tokens,
        [
            format!("Bearer {SHEETS_ACCESS}"),
            refreshed.clone(),
            refreshed
        ],
        "attempt 1: the old token, one refresh, the new one; attempt 2: the new one"
    );
    assert_eq!(refreshes(&requests), 1);

    let never = create(api, &append_to("sheet-never")).await;
    let run = hook(api, &never, &json!({"email": "bo@example.com"})).await;
    let execution = api.wait_finished(&run).await;
    assert_eq!(execution["status"], "failed", "{execution}");
    assert_eq!(execution["steps"][0]["attempts"], 2, "{execution}");
    let requests = fakes.google.received_requests().await.unwrap();
    let appends = received(
        &fakes.google,
        "/v4/spreadsheets/sheet-never/values/Sheet1:append",
    )
    .await;
    assert_eq!(
        appends.len(),
        4,
        "2 executor attempts x (1 call + 1 after a refresh)"
    );
    assert_eq!(refreshes(&requests), 3, "one refresh per executor attempt");
}
