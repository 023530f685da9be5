//! Run with: cargo test -p echoflow-executor --test api parallel
//!
//! Branches after a fan-out run at once: a merge waits for all of them, a
//! failing branch fails the execution and abandons the others, and so does a
//! cancel (`fan_out.rs`); a branch that waits (a retry's backoff, a delay) lets the
//! others run on and runs again when due while they still run, and a parked
//! execution resumes for each wait when it is due (`waits.rs`). This file
//! holds what they share: servers that answer late and record arrivals.

mod fan_out;
mod waits;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// When a request came, on the test's clock and on the wall clock (to
/// compare with times the executor recorded).
struct Arrival {
    path: String,
    at: Instant,
    wall: DateTime<Utc>,
}

/// The requests of one server, shared by its mocks.
#[derive(Clone, Default)]
struct Arrivals(Arc<Mutex<Vec<Arrival>>>);

impl Arrivals {
    fn of(&self, path: &str) -> Vec<(Instant, DateTime<Utc>)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.path == path)
            .map(|a| (a.at, a.wall))
            .collect()
    }

    fn count(&self, path: &str) -> usize {
        self.of(path).len()
    }
}

/// Answers with `answers` in turn (the last one for ever after), each
/// after its delay, and records when each request came.
struct Answer {
    arrivals: Arrivals,
    answers: Vec<ResponseTemplate>,
}

impl Respond for Answer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut seen = self.arrivals.0.lock().unwrap();
        let path = request.url.path().to_string();
        let earlier = seen.iter().filter(|a| a.path == path).count();
        seen.push(Arrival {
            path,
            at: Instant::now(),
            wall: Utc::now(),
        });
        self.answers[earlier.min(self.answers.len() - 1)].clone()
    }
}

/// Serves `/{name}` with `answers`, recording arrivals.
async fn serve(
    server: &MockServer,
    arrivals: &Arrivals,
    name: &str,
    answers: Vec<ResponseTemplate>,
) {
    Mock::given(path(format!("/{name}")))
        .respond_with(Answer {
            arrivals: arrivals.clone(),
            answers,
        })
        .mount(server)
        .await;
}

fn answer(side: &str, delay: Duration) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"side": side}))
        .set_delay(delay)
}

fn call(server: &MockServer, name: &str, extra: Value) -> Value {
    let mut config = json!({"method": "POST", "url": format!("{}/{name}", server.uri())});
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    config
}

/// How long each side of the fan-out takes to answer.
const SLOW: Duration = Duration::from_secs(1);
