//! What starts a workflow, read once from its plan's trigger node: the event
//! it listens for, the conditions an event must meet, its debounce window,
//! and the settings of webhooks and schedules.
//!
//! Reads are as forgiving as the schema is strict: a plan compiled today
//! always has valid configs, and a field an older plan lacks or has in
//! another shape reads as absent (a sentiment trigger without a threshold
//! then accepts nothing, as before).

use chrono::Duration;
use echoflow_contracts::EventType;
use serde::Deserialize;
use serde_json::Value;

use crate::catalogue::MAX_DEBOUNCE_SECONDS;
use crate::graph::PlanNode;
use crate::kind::NodeKind;
use crate::respond::RespondMode;

/// A trigger node's kind and config, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum TriggerSpec {
    Webhook(WebhookTrigger),
    Manual,
    Schedule(ScheduleTrigger),
    Event(EventTrigger),
    Conversation(ConversationTrigger),
    ImageUploaded,
}

/// `trigger.webhook`: how deliveries are signed and deduplicated. Absent
/// fields take the registry's defaults.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WebhookTrigger {
    /// The secret as stored (sealed), when deliveries must be signed.
    pub hmac_secret: Option<String>,
    pub signature_header: Option<String>,
    pub signature_scheme: Option<String>,
    pub idempotency_header: Option<String>,
    pub dedupe_payload: bool,
    pub dedupe_window_seconds: Option<i64>,
    /// Whether the caller waits for the workflow's answer.
    pub respond: RespondMode,
    /// With `respond: when_finished`, how long the caller waits at most
    /// (the registry caps it by its own maximum).
    pub respond_timeout_seconds: Option<i64>,
}

/// `trigger.schedule`: a cron expression and its time zone, parsed by the registry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScheduleTrigger {
    pub cron: Option<String>,
    pub timezone: Option<String>,
}

/// `trigger.event`: any event of a type, optionally filtered by an expression over `event`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventTrigger {
    pub event_type: Option<String>,
    /// Not blank when present.
    pub filter: Option<String>,
}

/// A trigger on a chatbot's conversations: its chat event's condition and
/// how often it may fire per conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationTrigger {
    pub condition: ConversationCondition,
    /// At most one firing per conversation within this window.
    pub debounce: Option<Duration>,
}

/// What a conversation event must carry for the trigger to fire.
#[derive(Debug, Clone, PartialEq)]
pub enum ConversationCondition {
    /// `trigger.conversation_started`: `contains`, when not empty, is a
    /// case-insensitive substring of the text.
    Started { contains: Option<String> },
    /// `trigger.message_received`: as `Started`.
    MessageReceived { contains: Option<String> },
    /// `trigger.sentiment`: the score is at or below (or above) the threshold.
    Sentiment {
        threshold: Option<f64>,
        direction: Option<Direction>,
    },
    /// `trigger.intent_detected`: the intent, in any case, with at least the confidence.
    IntentDetected {
        intent: Option<String>,
        min_confidence: f64,
    },
}

/// Which side of a sentiment threshold fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Below,
    Above,
}

impl TriggerSpec {
    /// The trigger node kinds that react to a chatbot's conversations.
    pub const CONVERSATION_KINDS: [NodeKind; 4] = [
        NodeKind::TriggerConversationStarted,
        NodeKind::TriggerMessageReceived,
        NodeKind::TriggerSentiment,
        NodeKind::TriggerIntentDetected,
    ];

    /// The spec of a plan's trigger node; None when the node is no trigger.
    pub fn of(node: &PlanNode) -> Option<Self> {
        Self::read(node.node_type, &node.config)
    }

    /// The spec of a stored plan's trigger, read from the plan's JSON
    /// without the rest of it; None when the plan holds no readable trigger.
    pub fn of_stored_plan(plan: &Value) -> Option<Self> {
        let trigger = PlanNode::deserialize(plan.get("trigger")?).ok()?;
        Self::of(&trigger)
    }

    /// The spec of a trigger of `kind` configured with `config`; None for
    /// a kind that is no trigger.
    pub fn read(kind: NodeKind, config: &Value) -> Option<Self> {
        use NodeKind::*;
        let conversation = |condition| {
            Self::Conversation(ConversationTrigger {
                condition,
                debounce: debounce_window(config),
            })
        };
        Some(match kind {
            TriggerWebhook => Self::Webhook(WebhookTrigger {
                hmac_secret: text(config, "hmac_secret"),
                signature_header: text(config, "signature_header"),
                signature_scheme: text(config, "signature_scheme"),
                idempotency_header: text(config, "idempotency_header"),
                dedupe_payload: config.get("dedupe_payload").and_then(Value::as_bool) == Some(true),
                dedupe_window_seconds: config.get("dedupe_window_seconds").and_then(Value::as_i64),
                respond: RespondMode::of_config(config),
                respond_timeout_seconds: config
                    .get("respond_timeout_seconds")
                    .and_then(Value::as_i64),
            }),
            TriggerManual => Self::Manual,
            TriggerSchedule => Self::Schedule(ScheduleTrigger {
                cron: text(config, "cron"),
                timezone: text(config, "timezone"),
            }),
            TriggerEvent => Self::Event(EventTrigger {
                event_type: text(config, "event_type"),
                filter: text(config, "filter").filter(|f| !f.trim().is_empty()),
            }),
            TriggerConversationStarted => conversation(ConversationCondition::Started {
                contains: text(config, "contains"),
            }),
            TriggerMessageReceived => conversation(ConversationCondition::MessageReceived {
                contains: text(config, "contains"),
            }),
            TriggerSentiment => conversation(ConversationCondition::Sentiment {
                threshold: config.get("threshold").and_then(Value::as_f64),
                direction: match config.get("direction").and_then(Value::as_str) {
                    Some("below") => Some(Direction::Below),
                    Some("above") => Some(Direction::Above),
                    _ => None,
                },
            }),
            TriggerIntentDetected => conversation(ConversationCondition::IntentDetected {
                intent: text(config, "intent"),
                min_confidence: config
                    .get("min_confidence")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0),
            }),
            TriggerImageUploaded => Self::ImageUploaded,
            // Steps, not triggers: an action, condition or flow kind is added
            // without touching this file. A new trigger kind must get its arm
            // above; tests/trigger_spec.rs fails for one that has none.
            _ => return None,
        })
    }

    /// The event type the trigger listens for, as kept in the trigger index:
    /// the configured type of `trigger.event`, the chat event of a
    /// conversation trigger, none for triggers not started by events (the
    /// scheduler starts schedules itself: their `schedule.fired` must not).
    pub fn event_type(&self) -> Option<&str> {
        match self {
            Self::Event(event) => event.event_type.as_deref(),
            Self::Conversation(conversation) => Some(conversation.condition.event_type().as_str()),
            Self::Webhook(_) | Self::Manual | Self::Schedule(_) | Self::ImageUploaded => None,
        }
    }

    /// Whether the trigger reacts to a chatbot's conversations (and so only
    /// ever to events of that chatbot).
    pub fn is_conversation(&self) -> bool {
        matches!(self, Self::Conversation(_))
    }

    /// Whether an event carrying `data` meets the trigger's own conditions.
    /// Triggers without conditions (such as `trigger.event`, whose `filter`
    /// is an expression the registry evaluates) accept every event.
    pub fn accepts(&self, data: &Value) -> bool {
        match self {
            Self::Conversation(conversation) => conversation.condition.accepts(data),
            _ => true,
        }
    }

    /// The debounce window, for conversation triggers that set one.
    pub fn debounce(&self) -> Option<Duration> {
        match self {
            Self::Conversation(conversation) => conversation.debounce,
            _ => None,
        }
    }
}

impl ConversationCondition {
    /// The chat event this condition is checked against.
    pub fn event_type(&self) -> EventType {
        match self {
            Self::Started { .. } => EventType::ConversationStarted,
            Self::MessageReceived { .. } => EventType::MessageReceived,
            Self::Sentiment { .. } => EventType::SentimentAnalyzed,
            Self::IntentDetected { .. } => EventType::IntentDetected,
        }
    }

    pub fn accepts(&self, data: &Value) -> bool {
        match self {
            Self::Started { contains } | Self::MessageReceived { contains } => {
                text_contains(contains.as_deref(), data)
            }
            Self::Sentiment {
                threshold,
                direction,
            } => sentiment_crosses(*threshold, *direction, data),
            Self::IntentDetected {
                intent,
                min_confidence,
            } => intent_matches(intent.as_deref(), *min_confidence, data),
        }
    }
}

fn text(config: &Value, field: &str) -> Option<String> {
    config.get(field).and_then(Value::as_str).map(str::to_owned)
}

/// `debounce_seconds`, when at least 1; the schema bounds it, and an older
/// or hand-made plan is clamped, not trusted.
fn debounce_window(config: &Value) -> Option<Duration> {
    let seconds = config.get("debounce_seconds").and_then(Value::as_f64)?;
    if seconds < 1.0 {
        return None;
    }
    let seconds = (seconds as u64).min(MAX_DEBOUNCE_SECONDS);
    i64::try_from(seconds).ok().map(Duration::seconds)
}

fn text_contains(needle: Option<&str>, data: &Value) -> bool {
    let Some(needle) = needle.filter(|n| !n.is_empty()) else {
        return true;
    };
    data.get("text")
        .and_then(Value::as_str)
        .is_some_and(|text| text.to_lowercase().contains(&needle.to_lowercase()))
}

fn sentiment_crosses(threshold: Option<f64>, direction: Option<Direction>, data: &Value) -> bool {
    let Some(threshold) = threshold else {
        return false;
    };
    // `sentiment.analyzed` carries the score at the top; `message.received`
    // nests it, which lets a hand-made event of either shape work.
    let Some(score) = data
        .get("score")
        .or_else(|| data.pointer("/sentiment/score"))
        .and_then(Value::as_f64)
    else {
        return false;
    };
    match direction {
        Some(Direction::Below) => score <= threshold,
        Some(Direction::Above) => score >= threshold,
        None => false,
    }
}

fn intent_matches(wanted: Option<&str>, min_confidence: f64, data: &Value) -> bool {
    let Some(wanted) = wanted.map(str::trim).filter(|w| !w.is_empty()) else {
        return false;
    };
    // `intent.detected` carries `intent` as a name and `confidence` beside
    // it; `message.received` carries `intent: {name, confidence}`.
    let (name, confidence) = match data.get("intent") {
        Some(Value::String(name)) => (name.as_str(), data.get("confidence")),
        Some(Value::Object(intent)) => (
            intent.get("name").and_then(Value::as_str).unwrap_or(""),
            intent.get("confidence"),
        ),
        _ => return false,
    };
    let confidence = confidence.and_then(Value::as_f64).unwrap_or(0.0);
    name.trim().to_lowercase() == wanted.to_lowercase() && confidence >= min_confidence
}
