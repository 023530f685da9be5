//! CORS decided by a handler: a route that can only tell which web origins
//! it accepts once it has read the request (the chat widget's routes know
//! the chatbot, and so its allowed origins, only from its key) records its
//! decision on the request, and [`echo`], in every service's chain, puts it
//! on whatever the route answers, errors included: `Vary: Origin` once the
//! origin was looked at, `Access-Control-Allow-Origin` (with
//! `Access-Control-Expose-Headers`) once it was admitted. A route may also
//! mark a request [`undecided`] before it knows which origins it accepts:
//! a refusal made then (no key, a wrong key, a malformed body) tells
//! nothing of what the route guards, so it carries
//! `Access-Control-Allow-Origin` for any origin, and the page's script can
//! read why it was refused. Credentials are never allowed: the API takes
//! keys and tokens in headers, not cookies.

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
    /// Not decided yet: echoed on an error answer only.
    Undecided(HeaderValue),
}

/// The request's `Origin`, if its page sent one.
pub fn request_origin(req: &HttpRequest) -> Option<&HeaderValue> {
    req.headers().get(header::ORIGIN)
}

/// Records that the answer depends on the request's origin (`Vary: Origin`);
/// an undecided request is decided now (not admitted, unless [`admit`] follows).
pub fn checked(req: &HttpRequest) {
    let mut extensions = req.extensions_mut();
    if matches!(
        extensions.get::<Decision>(),
        None | Some(Decision::Undecided(_))
    ) {
        extensions.insert(Decision::Checked);
    }
}

/// Records that the route does not know yet which origins it accepts: until
/// [`checked`] or [`admit`], an error answer (4xx, 5xx) may be read by any
/// origin, and a success by none.
pub fn undecided(req: &HttpRequest) {
    let Some(origin) = request_origin(req).cloned() else {
        return;
    };
    let mut extensions = req.extensions_mut();
    if extensions.get::<Decision>().is_none() {
        extensions.insert(Decision::Undecided(origin));
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
    let refused = res.status().is_client_error() || res.status().is_server_error();
    let headers = res.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    let echoed = match decision {
        Decision::Admitted(origin) => Some(origin),
        Decision::Undecided(origin) if refused => Some(origin),
        Decision::Undecided(_) | Decision::Checked => None,
    };
    if let Some(origin) = echoed {
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
                .route(
                    "/undecided/{status}",
                    web::get().to(|req: HttpRequest, status: web::Path<u16>| async move {
                        undecided(&req);
                        match *status {
                            403 => {
                                // Decided after all: refused.
                                checked(&req);
                                HttpResponse::Forbidden().finish()
                            }
                            401 => HttpResponse::Unauthorized().finish(),
                            503 => HttpResponse::ServiceUnavailable().finish(),
                            _ => HttpResponse::Ok().finish(),
                        }
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

        // Refused before the route knew its origins: any origin reads why.
        for path in ["/undecided/401", "/undecided/503"] {
            let h = call(Some("https://evil.example"), path).await;
            assert_eq!(
                h.get("access-control-allow-origin").unwrap(),
                "https://evil.example",
                "{path}"
            );
            assert_eq!(h.get("vary").unwrap(), "Origin");
        }
        // Undecided, then refused by the route, or a success: not echoed.
        for path in ["/undecided/403", "/undecided/200"] {
            let h = call(Some("https://evil.example"), path).await;
            assert!(h.get("access-control-allow-origin").is_none(), "{path}");
            assert_eq!(h.get("vary").unwrap(), "Origin");
        }

        // A route that decides nothing gets nothing.
        let h = call(Some("https://shop.example.com"), "/plain").await;
        assert!(h.get("vary").is_none());
        assert!(h.get("access-control-allow-origin").is_none());
    }
}
