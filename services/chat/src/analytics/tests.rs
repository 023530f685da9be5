//! Chat's slice over known rows written through the store: every figure,
//! another owner's zeros, a chatbot's share, and the same figures from the
//! raw rows and from the rollups.

use chrono::{DateTime, TimeDelta, Utc};
use echoflow_analytics::range::floor_day;
use echoflow_analytics::roller::{roll, rolled as rolled_up};
use echoflow_analytics::{Bucket, IntentCount, Range};
use echoflow_migrations::Slice;
use echoflow_test_support::TestDatabase;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, Set};
use serde_json::json;
use uuid::Uuid;

use super::{ChatRows, figures};
use crate::store::{chatbots, messages, sessions};

/// A migrated chat slice in `database` (removed with it).
async fn connect(database: TestDatabase) -> (TestDatabase, DatabaseConnection) {
    let url = secrecy::SecretString::from(database.url());
    let db = echoflow_service_kit::db::connect(&url, Slice::Chat.name(), 4)
        .await
        .unwrap();
    Slice::Chat.migrate(&db).await.unwrap();
    (database, db)
}

async fn chatbot(db: &DatabaseConnection, owner: Uuid) -> Uuid {
    let id = Uuid::now_v7();
    chatbots::ActiveModel {
        id: Set(id),
        owner_id: Set(owner),
        name: Set("bot".into()),
        welcome_message: Set(None),
        settings: Set(json!({})),
        api_key_hash: Set(Uuid::new_v4().to_string()),
        api_key_prefix: Set("ek_".into()),
        created_at: Set(Utc::now()),
        updated_at: Set(Utc::now()),
    }
    .insert(db)
    .await
    .unwrap();
    id
}

async fn conversation(
    db: &DatabaseConnection,
    bot: Uuid,
    user: Option<Uuid>,
    at: DateTime<Utc>,
) -> Uuid {
    let id = Uuid::now_v7();
    sessions::ActiveModel {
        id: Set(id),
        chatbot_id: Set(bot),
        external_user_id: Set(user),
        user_email: Set(user.map(|u| format!("{u}@example.com"))),
        message_count: Set(0),
        started_at: Set(at),
        last_message_at: Set(at + TimeDelta::minutes(1)),
    }
    .insert(db)
    .await
    .unwrap();
    id
}

/// An end user's message (sentiment label and score, intent) or a reply (its source).
#[allow(clippy::too_many_arguments)]
async fn message(
    db: &DatabaseConnection,
    session: Uuid,
    bot: Uuid,
    role: &str,
    source: &str,
    sentiment: Option<(&str, f64)>,
    intent: Option<&str>,
    at: DateTime<Utc>,
) {
    messages::ActiveModel {
        id: Set(Uuid::now_v7()),
        session_id: Set(session),
        chatbot_id: Set(bot),
        role: Set(role.into()),
        content: Set("text".into()),
        source: Set(source.into()),
        sentiment_score: Set(sentiment.map(|s| s.1)),
        sentiment_label: Set(sentiment.map(|s| s.0.to_owned())),
        intent: Set(intent.map(str::to_owned)),
        intent_confidence: Set(intent.map(|_| 0.9)),
        idempotency_key: Set(None),
        created_at: Set(at),
    }
    .insert(db)
    .await
    .unwrap();
}

#[tokio::test]
async fn every_figure_of_known_conversations_on_sqlite() {
    every_figure(TestDatabase::sqlite("echoflow-chat-analytics")).await;
}

#[tokio::test]
async fn every_figure_of_known_conversations_on_postgresql() {
    every_figure(TestDatabase::postgres("ef_chat_analytics").await).await;
}

/// Every figure from the raw rows, then the same from the hourly and the daily rollups.
async fn every_figure(database: TestDatabase) {
    let (_database, db) = &connect(database).await;
    let now = Utc::now();
    let base = echoflow_analytics::range::floor_hour(now - TimeDelta::days(3));
    let (owner, other) = (Uuid::new_v4(), Uuid::new_v4());
    let (bot1, bot2, theirs) = (
        chatbot(db, owner).await,
        chatbot(db, owner).await,
        chatbot(db, other).await,
    );
    let (kim, bo) = (Uuid::new_v4(), Uuid::new_v4());
    // bot1, hour 0: kim's conversation: a welcome, then two turns (FAQ hit, fallback).
    let at = base + TimeDelta::minutes(5);
    let s1 = conversation(db, bot1, Some(kim), at).await;
    message(db, s1, bot1, "assistant", "welcome", None, None, at).await;
    message(
        db,
        s1,
        bot1,
        "user",
        "widget",
        Some(("positive", 0.6)),
        Some("hours"),
        at,
    )
    .await;
    message(db, s1, bot1, "assistant", "faq", None, None, at).await;
    message(
        db,
        s1,
        bot1,
        "user",
        "widget",
        Some(("negative", -0.8)),
        Some("refund"),
        at,
    )
    .await;
    message(db, s1, bot1, "assistant", "fallback", None, None, at).await;
    // bot1, hour 1: kim again (a second conversation) and an anonymous one; a workflow's message.
    let later = base + TimeDelta::minutes(70);
    let s2 = conversation(db, bot1, Some(kim), later).await;
    message(
        db,
        s2,
        bot1,
        "user",
        "widget",
        Some(("neutral", 0.0)),
        Some("hours"),
        later,
    )
    .await;
    message(db, s2, bot1, "assistant", "faq", None, None, later).await;
    message(db, s2, bot1, "assistant", "workflow", None, None, later).await;
    let s3 = conversation(db, bot1, None, later).await;
    message(
        db,
        s3,
        bot1,
        "user",
        "widget",
        Some(("negative", -0.4)),
        None,
        later,
    )
    .await;
    message(db, s3, bot1, "assistant", "llm", None, None, later).await;
    // bot2, hour 1: bo.
    let s4 = conversation(db, bot2, Some(bo), later).await;
    message(
        db,
        s4,
        bot2,
        "user",
        "widget",
        Some(("positive", 0.2)),
        Some("hours"),
        later,
    )
    .await;
    message(db, s4, bot2, "assistant", "faq", None, None, later).await;
    // Another owner's conversation.
    let s5 = conversation(db, theirs, Some(Uuid::new_v4()), later).await;
    message(
        db,
        s5,
        theirs,
        "user",
        "widget",
        Some(("positive", 0.9)),
        Some("hours"),
        later,
    )
    .await;

    let range = Range::new(now - TimeDelta::days(5), now, Bucket::Day).unwrap();
    let raw = figures(db, owner, None, &range).await.unwrap();
    assert_eq!(raw.conversations, 4);
    assert_eq!(raw.messages, 12);
    assert_eq!(raw.end_user_messages, 5);
    // kim (two conversations), bo, and the anonymous conversation.
    assert_eq!(raw.unique_end_users, 3);
    let sentiment = &raw.sentiment;
    assert_eq!(
        (sentiment.positive, sentiment.neutral, sentiment.negative),
        (2, 1, 2)
    );
    // (0.6 - 0.8 + 0.0 - 0.4 + 0.2) / 5
    assert_eq!(sentiment.average_score, Some(-0.08));
    let replies = &raw.replies;
    assert_eq!((replies.faq, replies.llm, replies.fallback), (3, 1, 1));
    assert_eq!(
        (replies.faq_hit_rate, replies.fallback_rate),
        (Some(0.6), Some(0.2))
    );
    assert_eq!(
        raw.top_intents,
        vec![
            IntentCount {
                name: "hours".into(),
                count: 3
            },
            IntentCount {
                name: "refund".into(),
                count: 1
            }
        ]
    );
    assert_eq!(raw.buckets.len(), range.bucket_starts().len());
    let day = raw
        .buckets
        .iter()
        .find(|b| b.start == Bucket::Day.floor(base))
        .unwrap();
    assert_eq!((day.conversations, day.messages), (4, 12));
    assert_eq!(
        (
            day.sentiment.positive,
            day.sentiment.neutral,
            day.sentiment.negative
        ),
        (2, 1, 2)
    );
    let elsewhere: u64 = raw
        .buckets
        .iter()
        .filter(|b| b.start != day.start)
        .map(|b| b.messages + b.conversations)
        .sum();
    assert_eq!(elsewhere, 0);

    // One chatbot's share.
    let of_bot2 = figures(db, owner, Some(bot2), &range).await.unwrap();
    assert_eq!(
        (
            of_bot2.conversations,
            of_bot2.messages,
            of_bot2.unique_end_users
        ),
        (1, 2, 1)
    );
    assert_eq!(of_bot2.replies.faq_hit_rate, Some(1.0));
    // Another owner's chatbot is not found for this owner; a stranger sees zeros.
    assert!(figures(db, owner, Some(theirs), &range).await.is_err());
    let nobody = figures(db, Uuid::new_v4(), None, &range).await.unwrap();
    assert_eq!(
        (
            nobody.conversations,
            nobody.messages,
            nobody.unique_end_users
        ),
        (0, 0, 0)
    );
    assert_eq!(
        (nobody.sentiment.average_score, nobody.replies.faq_hit_rate),
        (None, None)
    );
    assert_eq!(nobody.buckets.len(), range.bucket_starts().len());
    let them = figures(db, other, None, &range).await.unwrap();
    assert_eq!(
        (them.conversations, them.messages, them.sentiment.positive),
        (1, 1, 1)
    );

    // An hourly range over whole days, to compare with its rolled-up figures.
    let by_hour = Range::new(now - TimeDelta::days(4), now, Bucket::Hour).unwrap();
    let raw_by_hour = figures(db, owner, None, &by_hour).await.unwrap();

    // Rolled up: the closed hours come from analytics_hourly, with the same figures.
    assert_eq!(
        roll(db, &ChatRows, now).await.unwrap(),
        2,
        "two hours held rows"
    );
    assert_eq!(
        roll(db, &ChatRows, now).await.unwrap(),
        0,
        "an hour is rolled once"
    );
    assert_eq!(figures(db, owner, None, &range).await.unwrap(), raw);
    assert_eq!(
        figures(db, owner, Some(bot2), &range).await.unwrap(),
        of_bot2
    );
    let hourly = Range::new(base, base + TimeDelta::hours(2), Bucket::Hour).unwrap();
    let hours = figures(db, owner, None, &hourly).await.unwrap();
    let per_hour: Vec<(u64, u64)> = hours
        .buckets
        .iter()
        .map(|b| (b.conversations, b.messages))
        .collect();
    assert_eq!(per_hour, vec![(1, 5), (3, 7)]);

    assert_eq!(
        figures(db, owner, None, &by_hour).await.unwrap(),
        raw_by_hour
    );

    // Every closed day is rolled up too, and whole days are read from the daily
    // tier: with the hourly rows of those days gone, a daily range reads the same.
    let tiers = rolled_up::<ChatRows>(db).await.unwrap();
    assert_eq!(tiers.days_until, floor_day(tiers.hours_until));
    let hourly_rows = Query::delete()
        .from_table(Alias::new("analytics_hourly"))
        .and_where(Expr::col(Alias::new("hour")).lt(tiers.days_until))
        .to_owned();
    assert!(db.execute(&hourly_rows).await.unwrap().rows_affected() > 0);
    assert_eq!(figures(db, owner, None, &range).await.unwrap(), raw);
}
