//! Credentials in a query string, for clients that cannot send headers
//! (browsers' `EventSource`): taken out of every URI before the request
//! logger sees it, and turned into their header on the routes that accept them.

use actix_web::dev::ServiceRequest;
use actix_web::http::header::{HeaderName, HeaderValue};

/// Removes every `param` of `lifts` from the request's query string. When
/// `accepted`, each one's (first, percent-decoded) value becomes its header,
/// unless the request sent that header itself; otherwise it is dropped.
pub fn lift(req: &mut ServiceRequest, lifts: &[(&str, &'static str)], accepted: bool) {
    let names: Vec<&str> = lifts.iter().map(|(param, _)| *param).collect();
    let values = take(req, &names);
    if !accepted {
        return;
    }
    for (&(_, header), value) in lifts.iter().zip(values) {
        let name = HeaderName::from_static(header);
        if let Some(value) = value
            && !req.headers().contains_key(&name)
            && let Ok(value) = HeaderValue::from_str(&value)
        {
            req.headers_mut().insert(name, value);
        }
    }
}

/// Removes from the request's query string every parameter named one of
/// `names`, and returns the first value of each (None when absent), in the
/// order of `names`. Names are compared as the handlers' query extractors
/// read them, percent-decoded: `?chatbot%5Fkey=` is a `chatbot_key` to
/// serde, so it is one here too, and no log line keeps it.
pub fn take(req: &mut ServiceRequest, names: &[&str]) -> Vec<Option<String>> {
    let mut values = vec![None; names.len()];
    let Some(query) = req.uri().query() else {
        return values;
    };
    let mut kept: Vec<&str> = Vec::new();
    let mut found = false;
    for pair in query.split('&') {
        let decoded = decode(pair);
        let named = decoded
            .as_ref()
            .and_then(|(name, _)| names.iter().position(|n| *n == name.as_str()));
        match (named, decoded) {
            (Some(i), Some((_, value))) => {
                found = true;
                values[i].get_or_insert(value);
            }
            _ => kept.push(pair),
        }
    }
    if !found {
        return values;
    }
    let target = if kept.is_empty() {
        req.path().to_owned()
    } else {
        format!("{}?{}", req.path(), kept.join("&"))
    };
    if let Ok(uri) = target.parse::<actix_web::http::Uri>() {
        req.match_info_mut().get_mut().update(&uri);
        req.head_mut().uri = uri;
    }
    values
}

/// One `name=value` pair, decoded as `web::Query` decodes it.
fn decode(pair: &str) -> Option<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(pair)
        .ok()?
        .into_iter()
        .next()
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

    #[test]
    fn percent_encoded_names_are_taken_out_as_the_handlers_decode_them() {
        let mut req = TestRequest::get()
            .uri("/s/stream?chatbot%5Fkey=ecb_k&x=1&session%5ftoken=est_t&%63hatbot_key=again")
            .to_srv_request();
        lift(&mut req, &LIFTS, true);
        assert_eq!(req.uri().to_string(), "/s/stream?x=1");
        assert_eq!(req.headers().get("x-session-token").unwrap(), "est_t");
        assert_eq!(req.headers().get("x-chatbot-key").unwrap(), "ecb_k");

        let mut req = TestRequest::get()
            .uri("/other?session%5Ftoken=est_t&chatbot_key%00=kept")
            .to_srv_request();
        lift(&mut req, &LIFTS, false);
        assert_eq!(req.uri().to_string(), "/other?chatbot_key%00=kept");
        assert!(req.headers().get("x-session-token").is_none());
    }
}
