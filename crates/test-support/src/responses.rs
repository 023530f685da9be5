//! Reading an API answer and asserting the API's error body
//! (`{"error": {code, message, details}}`), as every service's tests do.

use serde_json::Value;

/// Status and JSON body (Null when the body is empty or not JSON).
pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Asserts the API's error body and returns its `error` object.
pub fn assert_error(body: &Value, code: &str) -> Value {
    let error = body
        .get("error")
        .unwrap_or_else(|| panic!("no error object in {body}"));
    assert_eq!(error["code"], code, "error body: {body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error without message: {body}"
    );
    assert!(
        error.get("details").is_some(),
        "error without details: {body}"
    );
    error.clone()
}

/// Asserts a 422 `VALIDATION_ERROR` naming `path` as the field at fault.
pub fn assert_invalid(status: u16, body: &Value, path: &str) {
    assert_eq!(status, 422, "{body}");
    let error = assert_error(body, "VALIDATION_ERROR");
    assert_eq!(error["details"]["path"], path, "{body}");
}
