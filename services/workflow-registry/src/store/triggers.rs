//! The trigger index: what starts each workflow, for matching events.

use sea_orm::QueryOrder;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "triggers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub workflow_id: Uuid,
    pub owner_id: Uuid,
    pub chatbot_id: Uuid,
    pub trigger_type: String,
    pub event_type: Option<String>,
    pub version: i32,
    pub is_active: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The conversation triggers and the chat event each one listens for.
pub const CONVERSATION_TRIGGERS: [(&str, &str); 4] = [
    ("trigger.conversation_started", "conversation.started"),
    ("trigger.message_received", "message.received"),
    ("trigger.sentiment", "sentiment.analyzed"),
    ("trigger.intent_detected", "intent.detected"),
];

/// Whether `trigger_type` reacts to a chatbot's conversations (and so only
/// ever to events of that chatbot).
pub fn is_conversation_trigger(trigger_type: &str) -> bool {
    CONVERSATION_TRIGGERS
        .iter()
        .any(|(t, _)| *t == trigger_type)
}

/// The event type a trigger node listens for, as kept in the index: the
/// configured type of `trigger.event`, the chat event of a conversation
/// trigger, none for triggers that are not started by events.
pub fn event_type_of(trigger_type: &str, config: &serde_json::Value) -> Option<String> {
    if trigger_type == "trigger.event" {
        return config
            .get("event_type")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string);
    }
    CONVERSATION_TRIGGERS
        .iter()
        .find(|(t, _)| *t == trigger_type)
        .map(|(_, event_type)| (*event_type).to_owned())
}

/// Active triggers listening for `event_type`, narrowed to the event's
/// chatbot and user when the event names them. An event that names no
/// chatbot starts no conversation trigger. Ordered by workflow, so that
/// concurrent consumers take the debounce rows in one order.
pub async fn matching<C: ConnectionTrait>(
    db: &C,
    event_type: &str,
    chatbot_id: Option<Uuid>,
    owner_id: Option<Uuid>,
) -> Result<Vec<Model>, DbErr> {
    let mut query = Entity::find()
        .filter(Column::EventType.eq(event_type))
        .filter(Column::IsActive.eq(true));
    match chatbot_id {
        Some(chatbot) => query = query.filter(Column::ChatbotId.eq(chatbot)),
        None => {
            query = query.filter(
                Column::TriggerType.is_not_in(CONVERSATION_TRIGGERS.iter().map(|(t, _)| *t)),
            )
        }
    }
    if let Some(owner) = owner_id {
        query = query.filter(Column::OwnerId.eq(owner));
    }
    query.order_by_asc(Column::WorkflowId).all(db).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conversation_triggers_are_indexed_under_their_chat_event() {
        let none = json!({});
        assert_eq!(
            event_type_of(
                "trigger.sentiment",
                &json!({"threshold": -0.5, "direction": "below"})
            )
            .as_deref(),
            Some("sentiment.analyzed")
        );
        assert_eq!(
            event_type_of("trigger.conversation_started", &none).as_deref(),
            Some("conversation.started")
        );
        assert_eq!(
            event_type_of("trigger.message_received", &none).as_deref(),
            Some("message.received")
        );
        assert_eq!(
            event_type_of("trigger.intent_detected", &json!({"intent": "refund"})).as_deref(),
            Some("intent.detected")
        );
        assert_eq!(
            event_type_of("trigger.event", &json!({"event_type": "custom.x"})).as_deref(),
            Some("custom.x")
        );
        assert_eq!(event_type_of("trigger.webhook", &none), None);
        assert_eq!(event_type_of("trigger.manual", &none), None);
        // The scheduler starts these itself: its `schedule.fired` events must not.
        assert_eq!(
            event_type_of("trigger.schedule", &json!({"cron": "* * * * *"})),
            None
        );
        assert!(is_conversation_trigger("trigger.sentiment"));
        assert!(!is_conversation_trigger("trigger.event"));
    }
}
