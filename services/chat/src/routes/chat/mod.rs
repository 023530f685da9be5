//! `POST /api/v1/chat`: an end user's message, by the chatbot's widget key.
//! Everything that can refuse the request runs before anything is written;
//! the messages, the session and the events they cause commit together.

use actix_web::{HttpRequest, HttpResponse, web};
use echoflow_bus::outbox::OutboxHandle;
use echoflow_nlp::intent::{IntentClassifier, IntentDef};
use echoflow_nlp::retrieval::{FaqDoc, FaqIndex};
use echoflow_nlp::sentiment;
use echoflow_service_kit::{ApiError, ErrorCode};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api_key;
use crate::chatbot::ChatbotSettings;
use crate::responder::{Prompt, ReplySource, Responder};
use crate::routes::sessions::SESSION_TOKEN_HEADER;
use crate::session_token::SessionTokens;
use crate::settings::ChatSettings;
use crate::store::{chatbots, faqs, intents, messages, sessions};

mod input;
mod turn;

pub use input::normalise_email;
use input::{check_image_url, check_message};
use turn::{Turn, store_turn};
pub use turn::{assistant_message, insert_message};

pub const CHATBOT_KEY_HEADER: &str = "x-chatbot-key";

#[derive(Deserialize, ToSchema)]
pub struct ChatRequest {
    pub chatbot_id: Uuid,
    pub message: String,
    /// Identifies the end user across conversations. It never continues a
    /// conversation by itself: without `session_id`, a new one opens for this email.
    pub user_email: Option<String>,
    /// Continues this conversation; the request must then prove it with the
    /// conversation's token in `X-Session-Token` (401 otherwise). Without it, a
    /// new conversation opens.
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
    /// Proves this conversation: continuing it (`X-Session-Token` with its
    /// `session_id`), and `GET /api/v1/chat/sessions/{session_id}/messages` and
    /// `/stream` (as `X-Session-Token`, or `?session_token=` on the stream). The
    /// same in every answer of the conversation: an answer goes only to whoever
    /// opened the conversation or proved it with this token.
    #[schema(example = "est_3f1c...")]
    pub session_token: String,
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

/// The conversation `session_id` of `bot`, which the request must prove with its
/// token: checked before the conversation is looked up, so a request without
/// the token learns nothing of it, not even whether it exists.
async fn proven_continuation(
    req: &HttpRequest,
    db: &DatabaseConnection,
    tokens: &SessionTokens,
    bot: &chatbots::Model,
    session_id: Uuid,
) -> Result<sessions::Model, ApiError> {
    let proven = req
        .headers()
        .get(SESSION_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|token| tokens.verify(bot.id, session_id, token));
    if !proven {
        return Err(ApiError::unauthorized(
            "continuing a conversation needs its session token in the X-Session-Token header",
        )
        .with_details(json!({"header": "X-Session-Token"})));
    }
    sessions::find_in_chatbot(db, session_id, bot.id)
        .await?
        .ok_or_else(|| ApiError::not_found("conversation"))
}

#[utoipa::path(post, path = "/api/v1/chat", operation_id = "sendChatMessage", tag = "chat", request_body = ChatRequest,
    params(("X-Session-Token" = Option<String>, Header, description = "the conversation's `session_token`; required with `session_id`")),
    security(("chatbotKey" = [])),
    responses((status = 200, body = ChatResponse),
        (status = 401, description = "missing or wrong chatbot key, or a `session_id` without its conversation's `X-Session-Token` (details: `{\"header\": \"X-Session-Token\"}`)"),
        (status = 403, description = "ORIGIN_NOT_ALLOWED: the chatbot does not accept requests from the page's origin; nothing is stored"),
        (status = 404, description = "the proven conversation no longer exists (deleted or erased)"),
        (status = 409, description = "the proven conversation belongs to another `user_email`"),
        (status = 413, description = "message too long"),
        (status = 422, description = "empty message or invalid field")))]
#[tracing::instrument(skip_all, fields(chatbot_id = %body.chatbot_id))]
pub async fn chat(
    req: HttpRequest,
    db: web::Data<DatabaseConnection>,
    settings: web::Data<ChatSettings>,
    ctx: web::Data<ChatContext>,
    session_tokens: web::Data<SessionTokens>,
    body: web::Json<ChatRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let bot = authenticate(&req, &db, body.chatbot_id).await?;
    let bot_settings = ChatbotSettings::from_stored(&bot.settings);
    // Before anything is read or written: a page the chatbot does not allow gets nothing.
    crate::origin::admit(&req, &bot_settings.allowed_origins)?;
    let text = check_message(&body.message, settings.max_message_chars)?;
    let email = normalise_email(body.user_email.as_deref())?;
    let image_url = check_image_url(body.image_url.as_deref())?;

    // Only a request that proves the conversation continues it; an email alone
    // never does (it opens a new conversation for that email, without memory).
    let existing = match body.session_id {
        Some(id) => {
            let session = proven_continuation(&req, &db, &session_tokens, &bot, id).await?;
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
        None => None,
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
    let stored = store_turn(&db, existing, &turn).await?;
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
        // The caller opened the conversation or proved it: the token is theirs.
        session_token: session_tokens.issue(bot.id, stored.session_id),
    }))
}
