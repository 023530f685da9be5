//! Folding chat's raw rows into hourly cells: the one place that says what each
//! message and conversation counts as, for the roller and for an overview's
//! not-yet-rolled hours alike.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use echoflow_analytics::rollup::Tally;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::store::{messages, sessions};

pub const CONVERSATIONS: &str = "conversations";
pub const MESSAGES: &str = "messages";
pub const SENTIMENT: &str = "sentiment";
pub const REPLIES: &str = "replies";
pub const INTENTS: &str = "intents";
/// The metrics the trend shows per bucket.
pub const TREND: [&str; 3] = [CONVERSATIONS, MESSAGES, SENTIMENT];
/// Reply sources that answer an end user's message.
pub const REPLY_SOURCES: [&str; 3] = ["faq", "llm", "fallback"];

/// Rows read per query, so a busy hour is folded in bounded memory.
const PAGE: u64 = 5_000;

type MessageRow = (
    Uuid,
    Uuid,
    String,
    String,
    Option<String>,
    Option<f64>,
    Option<String>,
    DateTime<Utc>,
);

/// Folds the messages and conversation starts in `[from, to)` of the chatbots
/// in `owners` (chatbot -> owner) into `tally`; `chatbots` limits the rows read
/// (None: every chatbot, and rows of a chatbot not in `owners` are skipped).
pub async fn fold<C: ConnectionTrait>(
    db: &C,
    tally: &mut Tally,
    owners: &HashMap<Uuid, Uuid>,
    chatbots: Option<&[Uuid]>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(), DbErr> {
    if from >= to {
        return Ok(());
    }
    let mut after: Option<Uuid> = None;
    loop {
        let mut select = messages::Entity::find()
            .select_only()
            .columns([
                messages::Column::Id,
                messages::Column::ChatbotId,
                messages::Column::Role,
                messages::Column::Source,
                messages::Column::SentimentLabel,
                messages::Column::SentimentScore,
                messages::Column::Intent,
                messages::Column::CreatedAt,
            ])
            .filter(messages::Column::CreatedAt.gte(from))
            .filter(messages::Column::CreatedAt.lt(to))
            .order_by_asc(messages::Column::Id)
            .limit(PAGE);
        if let Some(ids) = chatbots {
            select = select.filter(messages::Column::ChatbotId.is_in(ids.iter().copied()));
        }
        if let Some(last) = after {
            select = select.filter(messages::Column::Id.gt(last));
        }
        let rows: Vec<MessageRow> = select.into_tuple().all(db).await?;
        for (_, bot, role, source, label, score, intent, at) in &rows {
            let Some(owner) = owners.get(bot).copied() else {
                continue;
            };
            tally.add(owner, *bot, *at, MESSAGES, role, 0.0);
            if role == messages::ROLE_USER {
                if let Some(label) = label {
                    tally.add(owner, *bot, *at, SENTIMENT, label, score.unwrap_or(0.0));
                }
                if let Some(intent) = intent {
                    tally.add(owner, *bot, *at, INTENTS, intent, 0.0);
                }
            } else if REPLY_SOURCES.contains(&source.as_str()) {
                tally.add(owner, *bot, *at, REPLIES, source, 0.0);
            }
        }
        match rows.last() {
            Some(last) if rows.len() as u64 == PAGE => after = Some(last.0),
            _ => break,
        }
    }
    let mut after: Option<Uuid> = None;
    loop {
        let mut select = sessions::Entity::find()
            .select_only()
            .columns([
                sessions::Column::Id,
                sessions::Column::ChatbotId,
                sessions::Column::StartedAt,
            ])
            .filter(sessions::Column::StartedAt.gte(from))
            .filter(sessions::Column::StartedAt.lt(to))
            .order_by_asc(sessions::Column::Id)
            .limit(PAGE);
        if let Some(ids) = chatbots {
            select = select.filter(sessions::Column::ChatbotId.is_in(ids.iter().copied()));
        }
        if let Some(last) = after {
            select = select.filter(sessions::Column::Id.gt(last));
        }
        let rows: Vec<(Uuid, Uuid, DateTime<Utc>)> = select.into_tuple().all(db).await?;
        for (_, bot, at) in &rows {
            if let Some(owner) = owners.get(bot).copied() {
                tally.add(owner, *bot, *at, CONVERSATIONS, "", 0.0);
            }
        }
        match rows.last() {
            Some(last) if rows.len() as u64 == PAGE => after = Some(last.0),
            _ => break,
        }
    }
    Ok(())
}

/// The earliest raw row at or after `from` (a message or a conversation start), if any.
pub async fn next_row_at<C: ConnectionTrait>(
    db: &C,
    from: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let message: Option<DateTime<Utc>> = messages::Entity::find()
        .select_only()
        .column(messages::Column::CreatedAt)
        .filter(messages::Column::CreatedAt.gte(from))
        .order_by_asc(messages::Column::CreatedAt)
        .into_tuple()
        .one(db)
        .await?;
    let session: Option<DateTime<Utc>> = sessions::Entity::find()
        .select_only()
        .column(sessions::Column::StartedAt)
        .filter(sessions::Column::StartedAt.gte(from))
        .order_by_asc(sessions::Column::StartedAt)
        .into_tuple()
        .one(db)
        .await?;
    Ok(match (message, session) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}
