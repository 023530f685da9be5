//! Which web origins may call a chatbot's widget routes (the chatbot-key
//! routes under `/api/v1/chat`): the chatbot's `allowed_origins`, empty
//! meaning any. A browser's preflight carries no key, so the gateway answers
//! it for any origin; the real request is decided here, where the chatbot is
//! known. A handler calls [`admit`] once it knows the chatbot: a disallowed
//! origin is refused (403 `ORIGIN_NOT_ALLOWED`) before anything is read or
//! written; an allowed one is echoed in `Access-Control-Allow-Origin` on
//! whatever the handler answers, errors included (service-kit's
//! `allowed_origin`). A request without `Origin` (a server, curl) is not a
//! browser's cross-origin call and is not refused: any client can forge an
//! `Origin`, so this keeps other sites' pages from using the widget, not the
//! key from its holder. Until a handler knows the chatbot ([`undecided`] on
//! every widget route), its refusals (no key or a wrong one, a malformed
//! body) carry `Access-Control-Allow-Origin` for any origin: they tell
//! nothing of a chatbot, and the widget can read why it was refused.

use actix_web::HttpRequest;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use echoflow_service_kit::allowed_origin;
use echoflow_service_kit::{ApiError, ErrorCode};
use serde_json::json;

/// The most origins one chatbot may list.
pub const MAX_ALLOWED_ORIGINS: usize = 50;

/// An origin as browsers send it (`https://shop.example.com`, the port only
/// when not the scheme's default), from what an owner typed; the fault otherwise.
pub fn normalise(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw == "*" {
        return Err("`*` is not an origin; an empty list allows any origin".into());
    }
    let url = reqwest::Url::parse(raw)
        .map_err(|_| format!("`{raw}` is not an origin such as https://shop.example.com"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("`{raw}` must be an http or https origin"));
    }
    if url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(format!(
            "`{raw}` must be scheme://host[:port] only, without path, query or user"
        ));
    }
    Ok(url.origin().ascii_serialization())
}

/// Refuses a request whose `Origin` is not among `allowed` (normalised
/// origins; empty = any), else admits it: the answer echoes the origin.
pub fn admit(req: &HttpRequest, allowed: &[String]) -> Result<(), ApiError> {
    allowed_origin::checked(req);
    let Some(origin) = allowed_origin::request_origin(req) else {
        return Ok(());
    };
    let text = origin.to_str().unwrap_or_default();
    if !allowed.is_empty() && !allowed.iter().any(|a| a == text) {
        return Err(ApiError::new(
            ErrorCode::OriginNotAllowed,
            format!(
                "this chatbot does not accept requests from the origin {text}; \
                 its owner lists the origins in settings.allowed_origins"
            ),
        )
        .with_details(json!({"origin": text})));
    }
    allowed_origin::admit(req);
    Ok(())
}

/// The widget routes' middleware: the request is undecided until its handler
/// calls [`admit`].
pub async fn undecided(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    allowed_origin::undecided(req.request());
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn origins_are_normalised_as_browsers_send_them() {
        for (raw, origin) in [
            ("https://shop.example.com", "https://shop.example.com"),
            ("HTTPS://Shop.Example.COM:443", "https://shop.example.com"),
            ("http://localhost:3000", "http://localhost:3000"),
            (" http://127.0.0.1:8080 ", "http://127.0.0.1:8080"),
            ("https://bücher.example", "https://xn--bcher-kva.example"),
            ("https://shop.example.com/", "https://shop.example.com"),
        ] {
            assert_eq!(normalise(raw).unwrap(), origin, "{raw}");
        }
        for bad in [
            "*",
            "",
            "shop.example.com",
            "https://shop.example.com/widget",
            "https://user:pw@shop.example.com",
            "https://shop.example.com?x=1",
            "https://user@shop.example.com",
            "ftp://shop.example.com",
            "file:///tmp/x",
            "null",
        ] {
            assert!(normalise(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_listed_or_any_origin_is_admitted_and_another_refused() {
        let allowed = vec!["https://shop.example.com".to_string()];
        let request = |origin: Option<&str>| {
            let mut r = TestRequest::default();
            if let Some(origin) = origin {
                r = r.insert_header(("origin", origin));
            }
            r.to_http_request()
        };
        assert!(admit(&request(Some("https://shop.example.com")), &allowed).is_ok());
        let refused = admit(&request(Some("https://evil.example")), &allowed).unwrap_err();
        assert_eq!(refused.code, ErrorCode::OriginNotAllowed);
        assert_eq!(refused.details["origin"], "https://evil.example");
        // The stored form only: another spelling of the origin is another origin.
        assert!(admit(&request(Some("https://Shop.example.com")), &allowed).is_err());
        // Empty = any.
        assert!(admit(&request(Some("https://evil.example")), &[]).is_ok());
        // Without Origin: not a browser's cross-origin call.
        assert!(admit(&request(None), &allowed).is_ok());
    }
}
