//! The analytics overview on a large history: seeds messages (with their
//! conversations) and ended executions (with failed steps and dead letters)
//! of the signed-in owner over 35 days straight into the chat and executions
//! slices, lets the services roll the closed hours up, then times
//! `GET /api/v1/analytics/overview` for the last 30 days.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use indicatif::ProgressBar;
use sea_orm::sea_query::{Alias, InsertStatement, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use serde::Serialize;
use uuid::Uuid;

use echoflow_analytics::Bucket;
use echoflow_analytics::roller::GRACE;

use crate::stats::round;
use crate::target::Target;
use crate::{phase, say};

/// Rows per INSERT statement.
const BATCH: usize = 1_000;
/// The seeded history spans this many days, ending 2 hours ago.
const DAYS: i64 = 35;
/// Messages per conversation.
const PER_SESSION: usize = 10;

#[derive(Serialize, Default, Clone)]
pub struct AnalyticsPhase {
    pub messages: usize,
    pub executions: usize,
    pub days: i64,
    /// Writing the rows (bulk INSERTs).
    pub seed_secs: f64,
    /// From the reset of the rollups until the services had rolled every closed hour up
    /// (includes up to one roller period, 60 s, of waiting for its next round).
    pub rollup_secs: f64,
    pub samples: usize,
    /// `GET /api/v1/analytics/overview` over the last 30 days, by day, through the gateway.
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

/// A cheap, deterministic spread of `i` over `0..n`.
fn pick(i: usize, salt: usize, n: usize) -> usize {
    (i.wrapping_mul(2_654_435_761)
        .wrapping_add(salt.wrapping_mul(40_503))
        >> 7)
        % n
}

pub async fn measure(
    target: &Target,
    rows: usize,
    samples: usize,
    bar: &ProgressBar,
) -> anyhow::Result<AnalyticsPhase> {
    let mode = target.mode;
    let (status, me) = target.api.get("/api/v1/users/me").await;
    anyhow::ensure!(status == 200, "users/me: {status} {me}");
    let owner: Uuid = me["id"].as_str().unwrap_or_default().parse()?;
    let bot: Uuid = target.api.chatbot_id().parse()?;
    let chat = target.slice("chat").await?;
    let executions = &target.executions;
    let end = Utc::now() - TimeDelta::hours(2);
    let start = end - TimeDelta::days(DAYS);
    let step = (end - start).num_milliseconds() / rows.max(1) as i64;
    let at = |i: usize| start + TimeDelta::milliseconds(step * i as i64);

    let seeding = Instant::now();
    let sessions = rows.div_ceil(PER_SESSION);
    let label = |what: &str| format!("{mode}: seeding {what}");
    seed(
        &chat,
        sessions,
        bar,
        &label("conversations"),
        sessions_insert,
        |s, insert| session_row(insert, s, bot, at(s * PER_SESSION)),
    )
    .await?;
    seed(
        &chat,
        rows,
        bar,
        &label("messages"),
        messages_insert,
        |i, insert| messages_row(insert, i, bot, at(i)),
    )
    .await?;
    seed(
        executions,
        rows,
        bar,
        &label("executions"),
        executions_insert,
        |i, insert| execution_row(insert, i, owner, bot, at(i)),
    )
    .await?;
    let failed: Vec<usize> = (0..rows).filter(|i| pick(*i, 1, 100) < 7).collect();
    seed(
        executions,
        failed.len(),
        bar,
        &label("failed steps"),
        steps_insert,
        |k, insert| step_row(insert, failed[k], at(failed[k])),
    )
    .await?;
    seed(
        executions,
        failed.len(),
        bar,
        &label("dead letters"),
        dead_letters_insert,
        |k, insert| dead_letter_row(insert, failed[k], owner, at(failed[k])),
    )
    .await?;
    let seed_secs = round(seeding.elapsed().as_secs_f64());
    say(
        bar,
        format!(
            "  {mode} analytics: {rows} messages and {rows} executions seeded in {seed_secs} s"
        ),
    );

    phase(bar, format!("{mode}: waiting for the hourly roll-up"));
    let rolling = Instant::now();
    for db in [&chat, executions] {
        reset_rollups(db).await?;
    }
    for (db, name) in [(&chat, "chat"), (executions, "executions")] {
        wait_rolled(db, name, Bucket::Hour, bar).await?;
        wait_rolled(db, &format!("{name}:days"), Bucket::Day, bar).await?;
    }
    let rollup_secs = round(rolling.elapsed().as_secs_f64());
    let _ = chat.close().await;

    phase(bar, format!("{mode}: analytics overview, 30 days"));
    let now = Utc::now();
    let path = format!(
        "/api/v1/analytics/overview?from={}&to={}&bucket=day",
        (now - TimeDelta::days(30)).format("%Y-%m-%dT%H:%M:%SZ"),
        now.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let (status, first) = target.api.get(&path).await;
    anyhow::ensure!(status == 200, "overview: {status} {first}");
    let seen = first["conversations"]["messages"].as_u64().unwrap_or(0);
    anyhow::ensure!(seen > 0, "the overview counts no messages: {first}");
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        let (status, _) = target.api.get(&path).await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(status == 200, "overview answered {status}");
    }
    times.sort_by(f64::total_cmp);
    let quantile =
        |q: f64| times[((q * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1];
    let result = AnalyticsPhase {
        messages: rows,
        executions: rows,
        days: DAYS,
        seed_secs,
        rollup_secs,
        samples,
        p50_ms: round(quantile(0.5)),
        p95_ms: round(quantile(0.95)),
        max_ms: round(quantile(1.0)),
    };
    say(
        bar,
        format!(
            "  {mode} analytics overview (30 days of {rows} messages and executions, {seen} messages in range): p50 {} ms p95 {} ms; rolled up in {rollup_secs} s",
            result.p50_ms, result.p95_ms
        ),
    );
    Ok(result)
}

/// Inserts `count` rows built by `row` in multi-row INSERTs of [`BATCH`] rows,
/// 20 statements a transaction, with progress on the spinner.
async fn seed(
    db: &DatabaseConnection,
    count: usize,
    bar: &ProgressBar,
    label: &str,
    table: fn() -> InsertStatement,
    row: impl Fn(usize, &mut InsertStatement),
) -> anyhow::Result<()> {
    let mut done = 0;
    while done < count {
        let txn = db.begin().await?;
        for _ in 0..20 {
            if done >= count {
                break;
            }
            let mut insert = table();
            let upto = (done + BATCH).min(count);
            for i in done..upto {
                row(i, &mut insert);
            }
            txn.execute(&insert).await?;
            done = upto;
        }
        txn.commit().await?;
        phase(bar, format!("{label} {done}/{count}"));
    }
    Ok(())
}

fn insert_into(table: &str, columns: &[&str]) -> InsertStatement {
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new(table))
        .columns(columns.iter().map(|c| Alias::new(*c)));
    insert
}

fn messages_insert() -> InsertStatement {
    insert_into(
        "messages",
        &[
            "id",
            "session_id",
            "chatbot_id",
            "role",
            "content",
            "source",
            "sentiment_score",
            "sentiment_label",
            "intent",
            "intent_confidence",
            "created_at",
        ],
    )
}

fn sessions_insert() -> InsertStatement {
    insert_into(
        "conversation_sessions",
        &[
            "id",
            "chatbot_id",
            "external_user_id",
            "user_email",
            "message_count",
            "started_at",
            "last_message_at",
        ],
    )
}

fn executions_insert() -> InsertStatement {
    insert_into(
        "executions",
        &[
            "id",
            "workflow_id",
            "workflow_version",
            "owner_id",
            "chatbot_id",
            "status",
            "trigger",
            "queued_at",
            "started_at",
            "completed_at",
        ],
    )
}

fn steps_insert() -> InsertStatement {
    insert_into(
        "execution_steps",
        &[
            "execution_id",
            "node_id",
            "seq",
            "node_type",
            "status",
            "attempts",
            "error",
            "started_at",
            "completed_at",
            "duration_ms",
        ],
    )
}

fn dead_letters_insert() -> InsertStatement {
    insert_into(
        "dead_letters",
        &[
            "id",
            "execution_id",
            "owner_id",
            "workflow_id",
            "workflow_version",
            "failed_step",
            "error",
            "attempts",
            "reason",
            "created_at",
        ],
    )
}

/// Ids derived from the row number, so related rows find each other.
fn id(kind: u8, i: usize) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes[0] = kind;
    bytes[8..].copy_from_slice(&(i as u64).to_be_bytes());
    Uuid::from_bytes(bytes)
}

fn session_id(i: usize) -> Uuid {
    id(1, i / PER_SESSION)
}

fn messages_row(insert: &mut InsertStatement, i: usize, bot: Uuid, at: DateTime<Utc>) {
    const LABELS: [(&str, f64); 3] = [("positive", 0.6), ("neutral", 0.0), ("negative", -0.7)];
    const INTENTS: [&str; 8] = [
        "hours", "refund", "shipping", "pricing", "returns", "warranty", "stock", "contact",
    ];
    const SOURCES: [&str; 3] = ["faq", "fallback", "llm"];
    let user = i.is_multiple_of(2);
    let (label, score) = LABELS[pick(i, 2, 3)];
    let intent = (user && pick(i, 3, 3) == 0).then(|| INTENTS[pick(i, 4, INTENTS.len())]);
    let source = if user {
        "widget"
    } else {
        SOURCES[[0, 0, 0, 1, 2][pick(i, 5, 5)]]
    };
    insert.values_panic([
        id(2, i).into(),
        session_id(i).into(),
        bot.into(),
        (if user { "user" } else { "assistant" }).into(),
        "bench message".into(),
        source.into(),
        user.then_some(score).into(),
        user.then_some(label).into(),
        intent.into(),
        intent.map(|_| 0.8).into(),
        at.into(),
    ]);
}

fn session_row(insert: &mut InsertStatement, s: usize, bot: Uuid, at: DateTime<Utc>) {
    // A third of the conversations are anonymous; the rest belong to 20,000 end users.
    let user = (pick(s, 6, 3) > 0).then(|| id(3, pick(s, 7, 20_000)));
    insert.values_panic([
        id(1, s).into(),
        bot.into(),
        user.into(),
        user.map(|u| format!("{}@example.com", u.simple())).into(),
        (PER_SESSION as i32).into(),
        at.into(),
        (at + TimeDelta::minutes(3)).into(),
    ]);
}

fn execution_row(
    insert: &mut InsertStatement,
    i: usize,
    owner: Uuid,
    bot: Uuid,
    at: DateTime<Utc>,
) {
    let status = match pick(i, 1, 100) {
        0..7 => "failed",
        7..10 => "cancelled",
        _ => "completed",
    };
    let ms = 20 + pick(i, 8, 4_000) as i64;
    insert.values_panic([
        id(4, i).into(),
        id(5, pick(i, 9, 40)).into(),
        1.into(),
        owner.into(),
        bot.into(),
        status.into(),
        serde_json::json!({}).into(),
        (at - TimeDelta::milliseconds(ms + 3)).into(),
        (at - TimeDelta::milliseconds(ms)).into(),
        at.into(),
    ]);
}

fn step_row(insert: &mut InsertStatement, i: usize, at: DateTime<Utc>) {
    let node = ["call", "fetch", "notify"][pick(i, 10, 3)];
    insert.values_panic([
        id(4, i).into(),
        node.into(),
        1.into(),
        "action.http_request".into(),
        "failed".into(),
        3.into(),
        "upstream answered 503".into(),
        (at - TimeDelta::milliseconds(20)).into(),
        at.into(),
        20i64.into(),
    ]);
}

fn dead_letter_row(insert: &mut InsertStatement, i: usize, owner: Uuid, at: DateTime<Utc>) {
    insert.values_panic([
        id(6, i).into(),
        id(4, i).into(),
        owner.into(),
        id(5, pick(i, 9, 40)).into(),
        1.into(),
        "call".into(),
        "upstream answered 503".into(),
        3.into(),
        "execution_failed".into(),
        at.into(),
    ]);
}

/// Forgets the slice's rollups, so the roller rolls the seeded history from its first row.
async fn reset_rollups(db: &DatabaseConnection) -> anyhow::Result<()> {
    let backend = db.get_database_backend();
    for sql in [
        "DELETE FROM analytics_hourly",
        "DELETE FROM analytics_daily",
        "DELETE FROM analytics_watermark",
    ] {
        db.execute_raw(Statement::from_string(backend, sql)).await?;
    }
    Ok(())
}

/// Waits until the slice's roller has rolled every closed hour (or day) up
/// under the watermark `name` (at most 15 minutes).
async fn wait_rolled(
    db: &DatabaseConnection,
    name: &str,
    tier: Bucket,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(900);
    let backend = db.get_database_backend();
    loop {
        let target = tier.floor(Utc::now() - GRACE);
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                match backend {
                    DbBackend::Postgres => {
                        "SELECT rolled_until FROM analytics_watermark WHERE name = $1"
                    }
                    _ => "SELECT rolled_until FROM analytics_watermark WHERE name = ?",
                },
                [name.into()],
            ))
            .await?;
        let rolled: Option<DateTime<Utc>> = match row {
            Some(row) => Some(row.try_get("", "rolled_until")?),
            None => None,
        };
        if let Some(rolled) = rolled {
            phase(
                bar,
                format!(
                    "waiting for the {name} roll-up: at {}",
                    rolled.format("%Y-%m-%d %H:00")
                ),
            );
            if rolled >= target {
                return Ok(());
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the {name} roll-up did not finish in 15 minutes"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
