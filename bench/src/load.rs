//! Load: open-loop webhook calls at a fixed rate (requests leave on
//! schedule whether or not earlier ones finished), and closed-loop runs one
//! at a time. Latency is measured from the moment a request left to the
//! `completed_at` the executor committed with the execution.

use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use serde::Serialize;
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::stats::{Latency, round};
use crate::target::Target;

#[derive(Debug, Clone, Serialize, Default)]
pub struct Phase {
    pub rate_per_sec: u32,
    pub seconds: f64,
    pub sent: usize,
    pub accepted: usize,
    pub refused: usize,
    pub completed: usize,
    pub failed: usize,
    /// Webhook request -> execution completed and persisted.
    pub end_to_end: Latency,
    /// Webhook request -> 202 (the trigger durably accepted).
    pub intake: Latency,
    /// Completed executions per second over the phase.
    pub completed_per_sec: f64,
}

struct Sent {
    id: Uuid,
    sent_at: DateTime<Utc>,
    intake: Duration,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}

async fn send(client: &reqwest::Client, url: &str, n: usize) -> Option<Sent> {
    let sent_at = Utc::now();
    let started = Instant::now();
    let response = client
        .post(url)
        .json(&serde_json::json!({"n": n}))
        .send()
        .await
        .ok()?;
    if response.status().as_u16() != 202 {
        return None;
    }
    let intake = started.elapsed();
    let body: serde_json::Value = response.json().await.ok()?;
    let id = Uuid::parse_str(body["execution_id"].as_str()?).ok()?;
    Some(Sent {
        id,
        sent_at,
        intake,
    })
}

/// Sends `rate` webhook calls per second for `seconds`, then waits for every
/// accepted execution to finish (at most `drain`).
pub async fn open_loop(
    target: &Target,
    hook: &str,
    rate: u32,
    seconds: f64,
    drain: Duration,
    bar: &ProgressBar,
) -> anyhow::Result<Phase> {
    let baseline = target.finished_count().await?;
    let url = format!("{}{hook}", target.api.base);
    let client = client();
    let total = (f64::from(rate) * seconds).round() as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        tokio::time::sleep_until(started + interval * u32::try_from(i).unwrap_or(u32::MAX)).await;
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move { send(&client, &url, i).await }));
        if i % 64 == 0 {
            bar.set_message(format!("{rate}/s: sent {i}/{total}"));
        }
    }
    let mut sent = Vec::with_capacity(total);
    for t in tasks {
        if let Ok(Some(s)) = t.await {
            sent.push(s);
        }
    }
    wait_finished(target, baseline + sent.len() as u64, drain, bar).await?;
    summarise(target, rate, seconds, total, sent).await
}

/// Runs `runs` executions one after another (closed loop).
pub async fn closed_loop(
    target: &Target,
    hook: &str,
    runs: usize,
    bar: &ProgressBar,
) -> anyhow::Result<Phase> {
    let url = format!("{}{hook}", target.api.base);
    let client = client();
    let mut sent = Vec::with_capacity(runs);
    for i in 0..runs {
        let baseline = target.finished_count().await?;
        if let Some(s) = send(&client, &url, i).await {
            sent.push(s);
            wait_finished(target, baseline + 1, Duration::from_secs(30), bar).await?;
        }
    }
    summarise(target, 0, 0.0, runs, sent).await
}

async fn wait_finished(
    target: &Target,
    expected: u64,
    limit: Duration,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let done = target.finished_count().await?;
        if done >= expected {
            return Ok(());
        }
        if Instant::now() > deadline {
            crate::say(
                bar,
                format!(
                    "  ! {} executions still unfinished after {:?}",
                    expected - done,
                    limit
                ),
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn summarise(
    target: &Target,
    rate: u32,
    seconds: f64,
    total: usize,
    sent: Vec<Sent>,
) -> anyhow::Result<Phase> {
    let finished = target.finished().await?;
    let mut e2e = Vec::with_capacity(sent.len());
    let mut failed = 0;
    let first = sent.iter().map(|s| s.sent_at).min();
    let mut last = first;
    for s in &sent {
        if let Some(f) = finished.get(&s.id) {
            if f.status == "completed" {
                let ms =
                    (f.completed_at - s.sent_at).num_microseconds().unwrap_or(0) as f64 / 1000.0;
                e2e.push(ms.max(0.0));
                last = last.max(Some(f.completed_at));
            } else {
                failed += 1;
            }
        }
    }
    let intake: Vec<Duration> = sent.iter().map(|s| s.intake).collect();
    let span = match (first, last) {
        (Some(a), Some(b)) => (b - a).num_microseconds().unwrap_or(0) as f64 / 1e6,
        _ => 0.0,
    };
    Ok(Phase {
        rate_per_sec: rate,
        seconds,
        sent: total,
        accepted: sent.len(),
        refused: total - sent.len(),
        completed: e2e.len(),
        failed,
        completed_per_sec: if span > 0.0 {
            round(e2e.len() as f64 / span)
        } else {
            0.0
        },
        end_to_end: Latency::of_ms(&mut e2e),
        intake: Latency::of(&intake),
    })
}
