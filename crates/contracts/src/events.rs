//! The event types echoflow's own services emit, and the one builder of
//! their CloudEvents (chat, executor, integrations and the registry use it).

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::v1::TriggerEvent;

/// An event type a service of echoflow emits. Users' own events
/// (`custom.order_paid`) are any dot-separated name and stay strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// The registry, when a workflow's webhook is called.
    WebhookReceived,
    /// The registry, when a workflow is executed by hand.
    ManualTriggered,
    /// The registry's scheduler, when a `trigger.schedule` workflow is due.
    ScheduleFired,
    /// Chat: an end user opened a conversation.
    ConversationStarted,
    /// Chat: a message arrived in a conversation.
    MessageReceived,
    /// Chat: a message's sentiment was scored.
    SentimentAnalyzed,
    /// Chat: an intent was recognised in a message.
    IntentDetected,
    /// The executor: a run failed (starts the workflow's error workflow).
    ExecutionFailed,
    /// Integrations: a connection's grant was revoked or expired.
    IntegrationNeedsReconnect,
    /// Chat: a chatbot was deleted; every service retires what belongs to it.
    ChatbotDeleted,
    /// Chat: one end user's data on a chatbot was erased (GDPR); every
    /// service erases what it holds of that end user.
    EndUserErased,
}

impl EventType {
    pub const ALL: [EventType; 11] = [
        EventType::WebhookReceived,
        EventType::ManualTriggered,
        EventType::ScheduleFired,
        EventType::ConversationStarted,
        EventType::MessageReceived,
        EventType::SentimentAnalyzed,
        EventType::IntentDetected,
        EventType::ExecutionFailed,
        EventType::IntegrationNeedsReconnect,
        EventType::ChatbotDeleted,
        EventType::EndUserErased,
    ];

    /// Lifecycle events: only chat emits them (through its outbox). They
    /// start no workflow, and `POST /api/v1/events` refuses them, so no
    /// caller can forge a deletion or an erasure.
    pub const LIFECYCLE: [EventType; 2] = [EventType::ChatbotDeleted, EventType::EndUserErased];

    /// The CloudEvent `type` attribute, also the routing key on `echoflow.events`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::WebhookReceived => "webhook.received",
            EventType::ManualTriggered => "manual.triggered",
            EventType::ScheduleFired => "schedule.fired",
            EventType::ConversationStarted => "conversation.started",
            EventType::MessageReceived => "message.received",
            EventType::SentimentAnalyzed => "sentiment.analyzed",
            EventType::IntentDetected => "intent.detected",
            EventType::ExecutionFailed => "execution.failed",
            EventType::IntegrationNeedsReconnect => "integration.needs_reconnect",
            EventType::ChatbotDeleted => "chatbot.deleted",
            EventType::EndUserErased => "chatbot.end_user_erased",
        }
    }

    /// Whether this is one of the [`EventType::LIFECYCLE`] events.
    pub fn is_lifecycle(self) -> bool {
        Self::LIFECYCLE.contains(&self)
    }

    /// The known type named `name`, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TriggerEvent {
    /// Whether the event is of the known type `event_type`.
    pub fn is(&self, event_type: EventType) -> bool {
        self.r#type == event_type.as_str()
    }

    /// Starts an event of `event_type` from `source` (`/chat`): a new v7 id,
    /// the time now, JSON data.
    pub fn builder(source: impl Into<String>, event_type: EventType) -> CloudEventBuilder {
        CloudEventBuilder {
            id: Uuid::now_v7().to_string(),
            source: source.into(),
            event_type,
            time: Utc::now(),
            subject: String::new(),
            chatbot_id: None,
            user_id: None,
            data: Value::Null,
        }
    }
}

/// A CloudEvent being built; [`CloudEventBuilder::build`] gives the
/// [`TriggerEvent`], whose [`TriggerEvent::to_cloudevent_value`] is the
/// structured JSON put on the bus.
#[derive(Debug, Clone)]
pub struct CloudEventBuilder {
    id: String,
    source: String,
    event_type: EventType,
    time: DateTime<Utc>,
    subject: String,
    chatbot_id: Option<Uuid>,
    user_id: Option<Uuid>,
    data: Value,
}

impl CloudEventBuilder {
    /// Another id than a fresh v7 UUID (one that repeats per occurrence, say).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// When it happened, if not now.
    pub fn time(mut self, time: DateTime<Utc>) -> Self {
        self.time = time;
        self
    }

    /// What it is about (a conversation, an execution, a connection).
    pub fn subject(mut self, subject: impl fmt::Display) -> Self {
        self.subject = subject.to_string();
        self
    }

    /// The chatbot it belongs to (`chatbotid`), if any.
    pub fn chatbot(mut self, chatbot_id: impl Into<Option<Uuid>>) -> Self {
        self.chatbot_id = chatbot_id.into();
        self
    }

    /// The user whose event it is (`userid`): only their workflows see it.
    pub fn user(mut self, user_id: Uuid) -> Self {
        self.user_id = Some(user_id);
        self
    }

    pub fn data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }

    pub fn build(self) -> TriggerEvent {
        let uuid = |id: Option<Uuid>| id.map(|id| id.to_string()).unwrap_or_default();
        TriggerEvent {
            id: self.id,
            source: self.source,
            r#type: self.event_type.as_str().to_owned(),
            specversion: "1.0".into(),
            time: self.time.to_rfc3339_opts(SecondsFormat::Millis, true),
            subject: self.subject,
            datacontenttype: "application/json".into(),
            data_json: self.data.to_string(),
            chatbot_id: uuid(self.chatbot_id),
            user_id: uuid(self.user_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn type_names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("custom.order_paid"), None);
    }

    #[test]
    fn a_built_event_is_a_valid_cloudevent_with_every_attribute_set() {
        let (bot, owner) = (Uuid::now_v7(), Uuid::now_v7());
        let event = TriggerEvent::builder("/chat", EventType::MessageReceived)
            .subject("session-1")
            .chatbot(bot)
            .user(owner)
            .data(json!({"text": "hi", "n": 0.30000000000000004}))
            .build();
        let value = event.to_cloudevent_value();
        assert_eq!(value["specversion"], "1.0");
        assert_eq!(value["source"], "/chat");
        assert_eq!(value["type"], "message.received");
        assert_eq!(value["subject"], "session-1");
        assert_eq!(value["datacontenttype"], "application/json");
        assert_eq!(value["chatbotid"], bot.to_string());
        assert_eq!(value["userid"], owner.to_string());
        assert_eq!(
            value["data"],
            json!({"text": "hi", "n": 0.30000000000000004})
        );
        let time = value["time"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
        assert!(Uuid::parse_str(value["id"].as_str().unwrap()).is_ok());
        assert!(event.is(EventType::MessageReceived));
        assert_eq!(TriggerEvent::from_cloudevent_value(&value).unwrap(), event);
    }

    #[test]
    fn without_a_chatbot_the_attribute_is_left_out() {
        let value = TriggerEvent::builder("/integrations", EventType::IntegrationNeedsReconnect)
            .id("fixed")
            .user(Uuid::nil())
            .build()
            .to_cloudevent_value();
        assert_eq!(value["id"], "fixed");
        assert!(value.get("chatbotid").is_none(), "{value}");
        assert_eq!(value["data"], Value::Null);
    }
}
