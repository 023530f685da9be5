//! What every outside request passes before anything else sees it: a method
//! the API knows (405), a path without dot segments or encoded separators
//! (400), and no header that only echoflow's own services may send.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use echoflow_service_kit::{ApiError, ErrorCode};
use serde_json::json;

/// The methods the API answers; anything else (TRACE, CONNECT, made-up ones) is 405.
const METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// Headers that services trust only from one another: an outside request
/// never carries them past the gateway.
pub const INTERNAL_HEADERS: [&str; 1] = [echoflow_service_kit::auth::INTERNAL_TOKEN_HEADER];

/// Why a path is refused, if it is: a `.` or `..` segment (also
/// percent-encoded) or an encoded `/` or `\` inside a segment, which a server
/// or client behind the gateway could turn into a different path.
pub fn path_fault(path: &str) -> Option<&'static str> {
    for segment in path.split('/') {
        let lower = segment.to_ascii_lowercase();
        if lower.contains("%2f") || lower.contains("%5c") || lower.contains('\\') {
            return Some("the path has an encoded or backslash separator inside a segment");
        }
        let decoded = lower.replace("%2e", ".");
        if decoded == "." || decoded == ".." {
            return Some("the path has a `.` or `..` segment");
        }
    }
    None
}

pub async fn screen(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if !METHODS.contains(req.method()) {
        let allow = METHODS.map(|m| m.to_string()).join(", ");
        let body = ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!("the method {} is not allowed", req.method()),
        )
        .with_details(json!({"allowed": METHODS.map(|m| m.to_string())}))
        .body();
        let response = HttpResponse::build(StatusCode::METHOD_NOT_ALLOWED)
            .insert_header((header::ALLOW, allow))
            .json(body);
        return Ok(req.into_response(response).map_into_right_body());
    }
    if let Some(fault) = path_fault(req.uri().path()) {
        let response = ApiError::new(ErrorCode::BadRequest, fault)
            .with_details(json!({"field": "path"}))
            .error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    for name in INTERNAL_HEADERS {
        req.headers_mut().remove(name);
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_and_encoded_separators_are_faults_and_plain_paths_are_not() {
        for bad in [
            "/api/v1/chatbots/../internal/x",
            "/api/v1/chatbots/./x",
            "/api/v1/chatbots/%2e%2e/internal",
            "/api/v1/chatbots/.%2E/internal",
            "/api/v1/chatbots/%2e/x",
            "/api/v1/chatbots/a%2Finternal",
            "/api/v1/chatbots/a%5cb",
            "/api/v1/chatbots/..",
            "/api/v1/chatbots/a\\..\\b",
        ] {
            assert!(path_fault(bad).is_some(), "{bad}");
        }
        for good in [
            "/api/v1/chatbots/b/faqs",
            "/api/v1/workflows/a.b/versions",
            "/hooks/tok...en",
            "/",
            "/api/v1/chatbots/%2e%2e%2e",
        ] {
            assert!(path_fault(good).is_none(), "{good}");
        }
    }
}
