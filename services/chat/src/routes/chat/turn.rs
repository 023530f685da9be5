//! Storing one turn: the session, the user's message and the reply, and the events they
//! cause, committed together.

use chrono::{Duration, Utc};
use echoflow_contracts::EventType;
use echoflow_nlp::intent::IntentMatch;
use echoflow_nlp::sentiment::Sentiment;
use echoflow_service_kit::ApiError;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::events::{self, Conversation};
use crate::responder::Reply;
use crate::store::{chatbots, external_users, messages, sessions};

/// One exchange: the user's message, what was found in it, and the reply.
pub(super) struct Turn<'a> {
    pub(super) bot: &'a chatbots::Model,
    pub(super) email: Option<String>,
    pub(super) text: String,
    pub(super) image_url: Option<String>,
    pub(super) sentiment: Sentiment,
    pub(super) intent: Option<IntentMatch>,
    pub(super) reply: Reply,
}

pub(super) struct StoredTurn {
    pub(super) session_id: Uuid,
    pub(super) message_id: Uuid,
    pub(super) reply_id: Uuid,
    /// The turn opened the conversation.
    pub(super) started: bool,
}

/// Commits the session, both messages and the events in one transaction:
/// `existing` (a conversation the request proved) continues, else a new one opens.
pub(super) async fn store_turn(
    db: &DatabaseConnection,
    existing: Option<sessions::Model>,
    turn: &Turn<'_>,
) -> Result<StoredTurn, ApiError> {
    let now = Utc::now();
    let txn = echoflow_service_kit::db::begin_writer(db).await?;
    let user = match &turn.email {
        Some(e) => Some(external_users::find_or_create(&txn, turn.bot.id, e).await?),
        None => None,
    };
    let session_id = match &existing {
        Some(s) => {
            let mut update = sessions::Entity::update_many()
                .col_expr(
                    sessions::Column::MessageCount,
                    Expr::col(sessions::Column::MessageCount).add(2),
                )
                .col_expr(sessions::Column::LastMessageAt, Expr::value(now));
            if s.user_email.is_none()
                && let Some(u) = &user
            {
                update = update
                    .col_expr(sessions::Column::UserEmail, Expr::value(u.email.clone()))
                    .col_expr(sessions::Column::ExternalUserId, Expr::value(u.id));
            }
            update
                .filter(sessions::Column::Id.eq(s.id))
                .exec(&txn)
                .await?;
            s.id
        }
        None => {
            let welcome = turn.bot.welcome_message.as_ref();
            let session_id = sessions::ActiveModel {
                id: Set(Uuid::now_v7()),
                chatbot_id: Set(turn.bot.id),
                external_user_id: Set(user.as_ref().map(|u| u.id)),
                user_email: Set(turn.email.clone()),
                message_count: Set(if welcome.is_some() { 3 } else { 2 }),
                started_at: Set(now),
                last_message_at: Set(now),
            }
            .insert(&txn)
            .await?
            .id;
            // The welcome the widget showed opens the history (and the memory).
            if let Some(text) = welcome {
                insert_message(
                    &txn,
                    assistant_message(
                        session_id,
                        turn.bot.id,
                        text,
                        "welcome",
                        now - Duration::milliseconds(1),
                    ),
                )
                .await?;
            }
            session_id
        }
    };
    let message_id = Uuid::now_v7();
    insert_message(
        &txn,
        messages::Model {
            id: message_id,
            session_id,
            chatbot_id: turn.bot.id,
            role: messages::ROLE_USER.into(),
            content: turn.text.clone(),
            source: "widget".into(),
            sentiment_score: Some(turn.sentiment.score),
            sentiment_label: Some(turn.sentiment.label.as_str().into()),
            intent: turn.intent.as_ref().map(|i| i.name.clone()),
            intent_confidence: turn.intent.as_ref().map(|i| i.confidence),
            idempotency_key: None,
            created_at: now,
        },
    )
    .await?;
    // A millisecond later, so the reply sorts after the message even where
    // timestamps are stored with millisecond precision.
    let reply = assistant_message(
        session_id,
        turn.bot.id,
        &turn.reply.text,
        turn.reply.source.as_str(),
        now + Duration::milliseconds(1),
    );
    let reply_id = reply.id;
    insert_message(&txn, reply).await?;
    let started = existing.is_none();
    emit_events(&txn, turn, session_id, message_id, started).await?;
    txn.commit().await?;
    Ok(StoredTurn {
        session_id,
        message_id,
        reply_id,
        started,
    })
}

/// An assistant message (no sentiment, no intent).
pub fn assistant_message(
    session_id: Uuid,
    chatbot_id: Uuid,
    text: &str,
    source: &str,
    created_at: chrono::DateTime<Utc>,
) -> messages::Model {
    messages::Model {
        id: Uuid::now_v7(),
        session_id,
        chatbot_id,
        role: messages::ROLE_ASSISTANT.into(),
        content: text.to_string(),
        source: source.to_string(),
        sentiment_score: None,
        sentiment_label: None,
        intent: None,
        intent_confidence: None,
        idempotency_key: None,
        created_at,
    }
}

/// Inserts `m` and announces it to the end user's session streams, in the same transaction.
pub async fn insert_message<C: ConnectionTrait>(
    conn: &C,
    m: messages::Model,
) -> Result<(), sea_orm::DbErr> {
    crate::live::announce(conn, &m).await?;
    messages::Entity::insert(messages::ActiveModel::from(m))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

async fn emit_events<C: ConnectionTrait>(
    conn: &C,
    turn: &Turn<'_>,
    session_id: Uuid,
    message_id: Uuid,
    started: bool,
) -> Result<(), sea_orm::DbErr> {
    let about = Conversation {
        chatbot_id: turn.bot.id,
        owner_id: turn.bot.owner_id,
        session_id,
    };
    let base = json!({
        "chatbot_id": turn.bot.id,
        "session_id": session_id,
        "message_id": message_id,
        "user_email": turn.email,
        "text": turn.text,
    });
    let with = |extra: Value| {
        let mut data = base.clone();
        if let (Some(d), Some(e)) = (data.as_object_mut(), extra.as_object()) {
            d.extend(e.clone());
        }
        data
    };
    if started {
        events::emit(conn, EventType::ConversationStarted, &about, base.clone()).await?;
    }
    let intent = turn
        .intent
        .as_ref()
        .map(|i| json!({"name": i.name, "confidence": i.confidence}));
    let mut received = json!({
        "sentiment": {"score": turn.sentiment.score, "label": turn.sentiment.label.as_str()},
        "intent": intent,
    });
    if let Some(url) = &turn.image_url {
        received["image_url"] = json!(url);
    }
    events::emit(conn, EventType::MessageReceived, &about, with(received)).await?;
    events::emit(
        conn,
        EventType::SentimentAnalyzed,
        &about,
        with(json!({"score": turn.sentiment.score, "label": turn.sentiment.label.as_str()})),
    )
    .await?;
    if let Some(i) = &turn.intent {
        events::emit(
            conn,
            EventType::IntentDetected,
            &about,
            with(json!({"intent": i.name, "confidence": i.confidence})),
        )
        .await?;
    }
    Ok(())
}
