//! Credentials in a query string, for clients that cannot send headers
//! (browsers' `EventSource`): taken out of every URI before the request
//! logger sees it, and turned into their header on the routes that accept them.

use actix_web::dev::ServiceRequest;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web;

/// Removes every `param` of `lifts` from the request's query string. When
/// `accepted`, each one's (first, percent-decoded) value becomes its header,
/// unless the request sent that header itself; otherwise it is dropped.
pub fn lift(req: &mut ServiceRequest, lifts: &[(&str, &'static str)], accepted: bool) {
    let Some(query) = req.uri().query() else {
        return;
    };
    let name_of = |pair: &str| pair.split('=').next().unwrap_or_default().to_owned();
    let (taken, kept): (Vec<&str>, Vec<&str>) = query
        .split('&')
        .partition(|pair| lifts.iter().any(|(param, _)| name_of(pair) == *param));
    if taken.is_empty() {
        return;
    }
    let mut values: Vec<(&'static str, String)> = Vec::new();
    for (param, header) in lifts {
        let value = taken
            .iter()
            .filter(|pair| name_of(pair) == *param)
            .find_map(|pair| {
                web::Query::<Vec<(String, String)>>::from_query(pair)
                    .ok()
                    .and_then(|q| q.into_inner().into_iter().next())
                    .map(|(_, v)| v)
            });
        if let Some(value) = value {
            values.push((header, value));
        }
    }
    let target = if kept.is_empty() {
        req.path().to_owned()
    } else {
        format!("{}?{}", req.path(), kept.join("&"))
    };
    let Ok(uri) = target.parse::<actix_web::http::Uri>() else {
        return;
    };
    req.match_info_mut().get_mut().update(&uri);
    req.head_mut().uri = uri;
    if !accepted {
        return;
    }
    for (header, value) in values {
        let name = HeaderName::from_static(header);
        if !req.headers().contains_key(&name)
            && let Ok(value) = HeaderValue::from_str(&value)
        {
            req.headers_mut().insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    const LIFTS: [(&str, &str); 2] = [
        ("session_token", "x-session-token"),
        ("chatbot_key", "x-chatbot-key"),
    ];

    #[test]
    fn accepted_params_become_headers_and_leave_the_uri() {
        let mut req = TestRequest::get()
            .uri("/s/stream?a=1&session_token=est_%2Babc&chatbot_key=ecb_k&b=2")
            .to_srv_request();
        lift(&mut req, &LIFTS, true);
        assert_eq!(req.uri().to_string(), "/s/stream?a=1&b=2");
        assert_eq!(req.headers().get("x-session-token").unwrap(), "est_+abc");
        assert_eq!(req.headers().get("x-chatbot-key").unwrap(), "ecb_k");
    }

    #[test]
    fn a_sent_header_wins_and_elsewhere_the_params_are_only_dropped() {
        let mut req = TestRequest::get()
            .uri("/s/stream?session_token=from-query")
            .insert_header(("x-session-token", "from-header"))
            .to_srv_request();
        lift(&mut req, &LIFTS, true);
        assert_eq!(req.uri().to_string(), "/s/stream");
        assert_eq!(req.headers().get("x-session-token").unwrap(), "from-header");

        let mut req = TestRequest::get()
            .uri("/other?chatbot_key=ecb_k&x=1")
            .to_srv_request();
        lift(&mut req, &LIFTS, false);
        assert_eq!(req.uri().to_string(), "/other?x=1");
        assert!(req.headers().get("x-chatbot-key").is_none());
    }
}
