//! `POST /api/v1/chat`: an end user's message, by the chatbot's widget key.
//! Everything that can refuse the request runs before anything is written;
//! the messages, the session and the events they cause commit together.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{Duration, Utc};
use echoflow_bus::outbox::OutboxHandle;
use echoflow_contracts::EventType;
use echoflow_nlp::intent::{IntentClassifier, IntentDef, IntentMatch};
use echoflow_nlp::retrieval::{FaqDoc, FaqIndex};
use echoflow_nlp::sentiment::{self, Sentiment};
use echoflow_service_kit::{ApiError, ErrorCode};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::invalid;
use crate::api_key;
use crate::chatbot::ChatbotSettings;
use crate::events::{self, Conversation};
use crate::responder::{Prompt, Reply, ReplySource, Responder};
use crate::settings::ChatSettings;
use crate::store::{chatbots, external_users, faqs, intents, messages, sessions};

pub const CHATBOT_KEY_HEADER: &str = "x-chatbot-key";

#[derive(Deserialize, ToSchema)]
pub struct ChatRequest {
    pub chatbot_id: Uuid,
    pub message: String,
    /// Identifies the end user across conversations.
    pub user_email: Option<String>,
    /// Continues this conversation; without it, the user's conversation of
    /// the last `session_idle_secs` continues, else a new one opens.
    pub session_id: Option<Uuid>,
    /// An image the user sent along (passed on in the events).
    pub image_url: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SentimentBody {
    /// -1 (very negative) to 1 (very positive).
    pub score: f64,
    /// `positive`, `neutral` or `negative`.
    pub label: String,
}

/// Named `DetectedIntent` in the document: `IntentBody` is the intents route's request body.
#[derive(Serialize, ToSchema)]
#[schema(as = DetectedIntent)]
pub struct IntentBody {
    pub name: String,
    pub confidence: f64,
}

#[derive(Serialize, ToSchema)]
pub struct ChatResponse {
    pub session_id: Uuid,
    /// The end user's message.
    pub message_id: Uuid,
    pub reply: String,
    pub reply_message_id: Uuid,
    /// `llm`, `faq` or `fallback`.
    pub reply_source: ReplySource,
    pub sentiment: SentimentBody,
    pub intent: Option<IntentBody>,
    /// True when this message opened the conversation.
    pub new_session: bool,
    /// The chatbot's welcome message, on a new conversation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub welcome_message: Option<String>,
}

/// What the chat route shares across requests.
pub struct ChatContext {
    pub responder: Responder,
    pub relay: OutboxHandle,
}

/// The chatbot the request's key opens; the key must belong to the named chatbot.
async fn authenticate(
    req: &HttpRequest,
    db: &DatabaseConnection,
    chatbot_id: Uuid,
) -> Result<chatbots::Model, ApiError> {
    let key = req
        .headers()
        .get(CHATBOT_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::unauthorized("the X-Chatbot-Key header is required"))?;
    match chatbots::find_by_key_hash(db, &api_key::hash(key)).await? {
        Some(bot) if bot.id == chatbot_id => Ok(bot),
        _ => Err(ApiError::unauthorized(
            "the chatbot key is not valid for this chatbot",
        )),
    }
}

fn check_message(message: &str, max_chars: usize) -> Result<String, ApiError> {
    let message = message.trim();
    if message.is_empty() {
        return Err(invalid("message", "must not be empty"));
    }
    let chars = message.chars().count();
    if chars > max_chars {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("message: {chars} characters, at most {max_chars} are accepted"),
        )
        .with_details(json!({"path": "message", "max_chars": max_chars})));
    }
    Ok(message.to_string())
}

/// A plausible address, lower-cased: local@domain.tld, no spaces, at most 254 characters.
pub fn normalise_email(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let email = raw.to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if !valid {
        return Err(invalid("user_email", "is not an email address"));
    }
    Ok(Some(email))
}

fn check_image_url(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if raw.len() > 2048 || !(raw.starts_with("https://") || raw.starts_with("http://")) {
        return Err(invalid(
            "image_url",
            "must be an http(s) URL of at most 2048 characters",
        ));
    }
    Ok(Some(raw.to_string()))
}

/// What the chatbot knows: its FAQ index and intent classifier.
async fn knowledge(
    db: &DatabaseConnection,
    chatbot_id: Uuid,
) -> Result<(FaqIndex, IntentClassifier), ApiError> {
    let (faq_rows, intent_rows) = tokio::try_join!(
        faqs::of_chatbot(db, chatbot_id),
        intents::of_chatbot(db, chatbot_id)
    )?;
    let index = FaqIndex::build(
        faq_rows
            .into_iter()
            .map(|f| FaqDoc {
                id: f.id,
                question: f.question,
                answer: f.answer,
            })
            .collect(),
    );
    let defs: Vec<IntentDef> = intent_rows
        .iter()
        .map(|i| IntentDef {
            name: i.name.clone(),
            examples: i.example_list(),
        })
        .collect();
    Ok((index, IntentClassifier::build(&defs)))
}

#[utoipa::path(post, path = "/api/v1/chat", tag = "chat", request_body = ChatRequest,
    security(("chatbotKey" = [])),
    responses((status = 200, body = ChatResponse), (status = 401, description = "missing or wrong chatbot key"),
        (status = 404, description = "unknown session_id"), (status = 413, description = "message too long"),
        (status = 422, description = "empty message or invalid field")))]
#[tracing::instrument(skip_all, fields(chatbot_id = %body.chatbot_id))]
pub async fn chat(
    req: HttpRequest,
    db: web::Data<DatabaseConnection>,
    settings: web::Data<ChatSettings>,
    ctx: web::Data<ChatContext>,
    body: web::Json<ChatRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let bot = authenticate(&req, &db, body.chatbot_id).await?;
    let text = check_message(&body.message, settings.max_message_chars)?;
    let email = normalise_email(body.user_email.as_deref())?;
    let image_url = check_image_url(body.image_url.as_deref())?;
    let bot_settings = ChatbotSettings::from_stored(&bot.settings);

    let since = Utc::now() - Duration::seconds(settings.session_idle_secs);
    let existing = match body.session_id {
        Some(id) => {
            let session = sessions::find_in_chatbot(db.get_ref(), id, bot.id)
                .await?
                .ok_or_else(|| ApiError::not_found("conversation"))?;
            // A conversation belongs to one end user: another email may not continue it.
            if let (Some(own), Some(given)) = (&session.user_email, &email)
                && own != given
            {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    "this conversation belongs to another user_email",
                )
                .with_details(json!({"path": "user_email"})));
            }
            Some(session)
        }
        None => match &email {
            Some(e) => sessions::latest_active(db.get_ref(), bot.id, e, since).await?,
            None => None,
        },
    };

    let (index, classifier) = knowledge(&db, bot.id).await?;
    let sentiment = sentiment::analyze(&text);
    let intent = classifier.detect_with_threshold(
        &text,
        bot_settings
            .intent_min_confidence
            .unwrap_or(echoflow_nlp::intent::DEFAULT_MIN_CONFIDENCE),
    );
    let window = bot_settings.memory_window.unwrap_or(settings.memory_window);
    let memory = match &existing {
        Some(s) => messages::last_of_session(db.get_ref(), s.id, u64::from(window) * 2).await?,
        None => Vec::new(),
    };
    let reply = ctx
        .responder
        .reply(&Prompt {
            settings: &bot_settings,
            faqs: &index,
            memory: &memory,
            message: &text,
        })
        .await;

    let turn = Turn {
        bot: &bot,
        email,
        text,
        image_url,
        sentiment,
        intent,
        reply,
    };
    let stored = store_turn(&db, existing, since, &turn).await?;
    let new_session = stored.started;
    ctx.relay.notify();
    metrics::counter!("echoflow_chat_messages_total", "reply_source" => turn.reply.source.as_str())
        .increment(1);
    Ok(HttpResponse::Ok().json(ChatResponse {
        session_id: stored.session_id,
        message_id: stored.message_id,
        reply: turn.reply.text,
        reply_message_id: stored.reply_id,
        reply_source: turn.reply.source,
        sentiment: SentimentBody {
            score: turn.sentiment.score,
            label: turn.sentiment.label.as_str().to_string(),
        },
        intent: turn.intent.map(|i| IntentBody {
            name: i.name,
            confidence: i.confidence,
        }),
        new_session,
        welcome_message: if new_session {
            bot.welcome_message.clone()
        } else {
            None
        },
    }))
}

/// One exchange: the user's message, what was found in it, and the reply.
struct Turn<'a> {
    bot: &'a chatbots::Model,
    email: Option<String>,
    text: String,
    image_url: Option<String>,
    sentiment: Sentiment,
    intent: Option<IntentMatch>,
    reply: Reply,
}

struct StoredTurn {
    session_id: Uuid,
    message_id: Uuid,
    reply_id: Uuid,
    /// The turn opened the conversation.
    started: bool,
}

/// Commits the session, both messages and the events in one transaction.
/// A first message with an email continues the conversation that a
/// concurrent first message of the same user opened meanwhile (active
/// `since`), instead of opening a second one.
async fn store_turn(
    db: &DatabaseConnection,
    existing: Option<sessions::Model>,
    since: chrono::DateTime<Utc>,
    turn: &Turn<'_>,
) -> Result<StoredTurn, ApiError> {
    let now = Utc::now();
    let txn = echoflow_service_kit::db::begin_writer(db).await?;
    let user = match &turn.email {
        Some(e) => Some(external_users::find_or_create(&txn, turn.bot.id, e).await?),
        None => None,
    };
    let existing = match (existing, &user) {
        // The user is held now: a conversation opened by a concurrent first
        // message has committed, and none can be opened until this commits.
        (None, Some(u)) => sessions::latest_active(&txn, turn.bot.id, &u.email, since).await?,
        (existing, _) => existing,
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

pub async fn insert_message<C: ConnectionTrait>(
    conn: &C,
    m: messages::Model,
) -> Result<(), sea_orm::DbErr> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_lower_cased() {
        assert_eq!(
            normalise_email(Some(" Ann@Example.COM "))
                .unwrap()
                .as_deref(),
            Some("ann@example.com")
        );
        assert_eq!(normalise_email(Some("")).unwrap(), None);
        for bad in [
            "ann",
            "ann@",
            "@x.com",
            "a b@x.com",
            "a@x",
            "a@@x.com",
            "a@x.com.",
        ] {
            assert!(normalise_email(Some(bad)).is_err(), "{bad}");
        }
    }
}
