//! CORS decided by a handler: a route that can only tell which web origins
//! it accepts once it has read the request (the chat widget's routes know
//! the chatbot, and so its allowed origins, only from its key) records its
//! decision on the request, and [`echo`], in every service's chain, puts it
//! on whatever the route answers, errors included: `Vary: Origin` once the
//! origin was looked at, `Access-Control-Allow-Origin` (with
//! `Access-Control-Expose-Headers`) once it was admitted. Credentials are
//! never allowed: the API takes keys and tokens in headers, not cookies.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest};

/// Response headers a page's script may read besides the safelisted ones.
pub const EXPOSED_HEADERS: &str = "Retry-After";

/// What the route decided about the request's origin.
#[derive(Clone)]
enum Decision {
    /// Looked at and not admitted (or there was none): the answer varies by origin.
    Checked,
    /// Admitted: echoed in `Access-Control-Allow-Origin`.
    Admitted(HeaderValue),
}

/// The request's `Origin`, if its page sent one.
pub fn request_origin(req: &HttpRequest) -> Option<&HeaderValue> {
    req.headers().get(header::ORIGIN)
}

/// Records that the answer depends on the request's origin (`Vary: Origin`).
pub fn checked(req: &HttpRequest) {
    let mut extensions = req.extensions_mut();
    if extensions.get::<Decision>().is_none() {
        extensions.insert(Decision::Checked);
    }
}

/// Records that the request's origin (if it has one) may read the answer.
pub fn admit(req: &HttpRequest) {
    let decision = match request_origin(req) {
        Some(origin) => Decision::Admitted(origin.clone()),
        None => Decision::Checked,
    };
    req.extensions_mut().insert(decision);
}

/// The chain's middleware: applies the route's recorded decision.
pub async fn echo(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let decision = res.request().extensions().get::<Decision>().cloned();
    let Some(decision) = decision else {
        return Ok(res);
    };
    let headers = res.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Decision::Admitted(origin) = decision {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderMap;
    use actix_web::middleware::from_fn;
    use actix_web::test as atest;
    use actix_web::{App, HttpResponse, web};

    async fn call(origin: Option<&str>, path: &str) -> HeaderMap {
        let app = atest::init_service(
            App::new()
                .wrap(from_fn(echo))
                .route(
                    "/admitted",
                    web::get().to(|req: HttpRequest| async move {
                        admit(&req);
                        HttpResponse::BadRequest().finish()
                    }),
                )
                .route(
                    "/refused",
                    web::get().to(|req: HttpRequest| async move {
                        checked(&req);
                        HttpResponse::Forbidden().finish()
                    }),
                )
                .route("/plain", web::get().to(HttpResponse::Ok)),
        )
        .await;
        let mut request = atest::TestRequest::get().uri(path);
        if let Some(origin) = origin {
            request = request.insert_header(("origin", origin));
        }
        atest::call_service(&app, request.to_request())
            .await
            .headers()
            .clone()
    }

    #[actix_web::test]
    async fn an_admitted_origin_is_echoed_on_any_answer_and_a_refused_one_is_not() {
        let h = call(Some("https://shop.example.com"), "/admitted").await;
        assert_eq!(
            h.get("access-control-allow-origin").unwrap(),
            "https://shop.example.com"
        );
        assert_eq!(h.get("vary").unwrap(), "Origin");
        assert_eq!(
            h.get("access-control-expose-headers").unwrap(),
            "Retry-After"
        );
        assert!(h.get("access-control-allow-credentials").is_none());

        let h = call(Some("https://evil.example"), "/refused").await;
        assert!(h.get("access-control-allow-origin").is_none());
        assert_eq!(h.get("vary").unwrap(), "Origin");

        // Admitted without an Origin: nothing to echo.
        let h = call(None, "/admitted").await;
        assert!(h.get("access-control-allow-origin").is_none());

        // A route that decides nothing gets nothing.
        let h = call(Some("https://shop.example.com"), "/plain").await;
        assert!(h.get("vary").is_none());
        assert!(h.get("access-control-allow-origin").is_none());
    }
}
