//! The chat service's OpenAPI document (merged by the gateway).

use actix_web::HttpResponse;
use utoipa::OpenApi;

use crate::appearance::{WidgetAppearance, WidgetPosition, WidgetSettings};
use crate::chatbot::{ChatbotSettings, ResponderKind};
use crate::responder::ReplySource;
use crate::routes::{chat, chatbots, conversations, end_users, faqs, intents, widget};

#[derive(OpenApi)]
#[openapi(
    paths(chatbots::create, chatbots::list, chatbots::get, chatbots::update, chatbots::delete,
          chatbots::rotate_key, faqs::list, faqs::create, faqs::update, faqs::delete,
          widget::config, widget::faqs,
          intents::list, intents::create, intents::delete, chat::chat,
          crate::routes::sessions::messages, crate::routes::sessions::stream::stream,
          conversations::list, conversations::messages, end_users::erase),
    components(schemas(chatbots::CreateChatbot, chatbots::UpdateChatbot, chatbots::ChatbotResponse,
                       chatbots::ChatbotList, ChatbotSettings, ResponderKind, faqs::FaqBody,
                       faqs::FaqResponse, faqs::FaqList, intents::IntentBody, intents::IntentResponse,
                       widget::WidgetConfig, widget::WidgetFaq, widget::WidgetFaqList,
                       WidgetSettings, WidgetAppearance, WidgetPosition,
                       intents::IntentList, chat::ChatRequest, chat::ChatResponse, chat::SentimentBody,
                       chat::IntentBody, ReplySource, conversations::ConversationResponse,
                       conversations::ConversationList, conversations::MessageResponse,
                       crate::live::SessionMessage, crate::routes::sessions::SessionMessageList,
                       conversations::MessageList, end_users::EndUserErased,
                       crate::lifecycle::ChatErased)),
    tags((name = "chatbots", description = "chatbots, their API keys, FAQs and intents"),
         (name = "chat", description = "the widget's routes (chatbot key: the chat endpoint, its public config and FAQs) and conversation history"))
)]
pub struct ChatDoc;

pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(ChatDoc::openapi())
}
