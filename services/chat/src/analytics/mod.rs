//! Chat's slice of the analytics overview (`GET /internal/analytics/conversations`,
//! service token): the owner's conversations, messages, end users,
//! sentiment, replies and intents in a range, from the hourly rollups before
//! the watermark and the raw rows after it.

pub mod fold;

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use echoflow_analytics::roller::{RawRows, rolled};
use echoflow_analytics::rollup::{Sums, Tally};
use echoflow_analytics::trend::{self, count};
use echoflow_analytics::{
    ConversationBucket, ConversationFigures, IntentCount, Range, Replies, SliceQuery, TOP,
};
use echoflow_service_kit::{ApiError, InternalCaller};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QuerySelect,
};
use uuid::Uuid;

use crate::store::{chatbots, sessions};
use fold::{CONVERSATIONS, INTENTS, MESSAGES, REPLIES, SENTIMENT, TREND};

/// Chat's raw rows for the roller.
pub struct ChatRows;

impl RawRows for ChatRows {
    const NAME: &'static str = "chat";

    async fn next_row_at(
        &self,
        db: &DatabaseConnection,
        from: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, DbErr> {
        fold::next_row_at(db, from).await
    }

    async fn fold(
        &self,
        txn: &DatabaseTransaction,
        tally: &mut Tally,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let owners: HashMap<Uuid, Uuid> = chatbots::Entity::find()
            .select_only()
            .columns([chatbots::Column::Id, chatbots::Column::OwnerId])
            .into_tuple::<(Uuid, Uuid)>()
            .all(txn)
            .await?
            .into_iter()
            .collect();
        fold::fold(txn, tally, &owners, None, from, to).await
    }
}

/// `GET /internal/analytics/conversations?owner_id=&chatbot_id=&from=&to=&bucket=`:
/// 404 when `chatbot_id` is not the owner's.
#[tracing::instrument(skip_all, fields(owner_id = %query.owner_id))]
pub async fn conversations(
    _caller: InternalCaller,
    db: web::Data<DatabaseConnection>,
    query: web::Query<SliceQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let range = Range::new(query.from, query.to, query.bucket)?;
    let figures = figures(db.get_ref(), query.owner_id, query.chatbot_id, &range).await?;
    Ok(HttpResponse::Ok().json(figures))
}

/// The figures of the owner's chatbots (or one of them) over `range`.
pub async fn figures(
    db: &DatabaseConnection,
    owner_id: Uuid,
    chatbot_id: Option<Uuid>,
    range: &Range,
) -> Result<ConversationFigures, ApiError> {
    let mut owned = chatbots::Entity::find()
        .select_only()
        .column(chatbots::Column::Id)
        .filter(chatbots::Column::OwnerId.eq(owner_id));
    if let Some(id) = chatbot_id {
        owned = owned.filter(chatbots::Column::Id.eq(id));
    }
    let bots: Vec<Uuid> = owned.into_tuple().all(db).await?;
    if chatbot_id.is_some() && bots.is_empty() {
        return Err(ApiError::not_found("chatbot"));
    }
    let mut sums = Sums::default();
    if bots.is_empty() {
        return Ok(shape(range, &sums, 0));
    }
    // Hours before the watermark come rolled up; the rest is folded from the raw rows.
    let rolled = rolled::<ChatRows>(db).await?;
    let split = sums
        .add_rollups(db, owner_id, chatbot_id, range, rolled, &TREND)
        .await?;
    let owners: HashMap<Uuid, Uuid> = bots.iter().map(|bot| (*bot, owner_id)).collect();
    let mut tail = Tally::default();
    fold::fold(db, &mut tail, &owners, Some(&bots), split, range.to).await?;
    sums.add_tally(&tail, &TREND);
    let end_users = unique_end_users(db, &bots, range).await?;
    Ok(shape(range, &sums, end_users))
}

/// End users with a conversation active in the range; a conversation without
/// an email is one end user.
async fn unique_end_users<C: ConnectionTrait>(
    db: &C,
    bots: &[Uuid],
    range: &Range,
) -> Result<u64, DbErr> {
    let n: Option<i64> = sessions::Entity::find()
        .select_only()
        .column_as(
            Expr::cust("COUNT(DISTINCT COALESCE(external_user_id, id))"),
            "n",
        )
        .filter(sessions::Column::ChatbotId.is_in(bots.iter().copied()))
        .filter(sessions::Column::LastMessageAt.gte(range.from))
        .filter(sessions::Column::StartedAt.lt(range.to))
        .into_tuple()
        .one(db)
        .await?;
    Ok(n.unwrap_or(0).max(0) as u64)
}

fn shape(range: &Range, sums: &Sums, unique_end_users: u64) -> ConversationFigures {
    let messages: i64 = sums.dimensions(MESSAGES).map(|(_, c)| c.count).sum();
    let replies: HashMap<&str, u64> = sums
        .dimensions(REPLIES)
        .map(|(source, c)| (source, c.count.max(0) as u64))
        .collect();
    let reply = |source: &str| replies.get(source).copied().unwrap_or(0);
    let (faq, llm, fallback) = (reply("faq"), reply("llm"), reply("fallback"));
    let answered = faq + llm + fallback;
    let rate = |n: u64| (answered > 0).then(|| trend::round(n as f64 / answered as f64, 4));
    let mut top_intents: Vec<IntentCount> = sums
        .dimensions(INTENTS)
        .map(|(name, c)| IntentCount {
            name: name.to_owned(),
            count: c.count.max(0) as u64,
        })
        .collect();
    top_intents.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    top_intents.truncate(TOP);
    let conversations = trend::buckets(range, sums, CONVERSATIONS);
    let per_messages = trend::buckets(range, sums, MESSAGES);
    let per_sentiment = trend::buckets(range, sums, SENTIMENT);
    let buckets = conversations
        .iter()
        .zip(&per_messages)
        .zip(&per_sentiment)
        .map(|(((start, c), (_, m)), (_, s))| ConversationBucket {
            start: *start,
            conversations: count(c, ""),
            messages: m.values().map(|cell| cell.count.max(0) as u64).sum(),
            sentiment: trend::sentiment(s.iter().map(|(label, cell)| (label.as_str(), *cell))),
        })
        .collect();
    ConversationFigures {
        conversations: sums.total(CONVERSATIONS, "").count.max(0) as u64,
        messages: messages.max(0) as u64,
        end_user_messages: sums.total(MESSAGES, "user").count.max(0) as u64,
        unique_end_users,
        sentiment: trend::sentiment(sums.dimensions(SENTIMENT)),
        replies: Replies {
            faq,
            llm,
            fallback,
            faq_hit_rate: rate(faq),
            fallback_rate: rate(fallback),
        },
        top_intents,
        buckets,
    }
}

#[cfg(test)]
mod tests;
