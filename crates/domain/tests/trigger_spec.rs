//! Run with: cargo test -p echoflow-domain --test trigger_spec
//!
//! What a trigger listens for and the conditions an event must meet, read
//! from a trigger node's kind and config as a plan holds them.
#![allow(clippy::unwrap_used)]

use chrono::Duration;
use echoflow_domain::{NodeKind, TriggerSpec};
use serde_json::{Value, json};

fn spec(trigger_type: &str, config: &Value) -> TriggerSpec {
    TriggerSpec::read(trigger_type.parse::<NodeKind>().unwrap(), config).unwrap()
}

fn trigger_accepts(trigger_type: &str, config: &Value, data: &Value) -> bool {
    spec(trigger_type, config).accepts(data)
}

/// The debounce of a conversation trigger configured with `config`.
fn debounce_window(config: &Value) -> Option<Duration> {
    spec("trigger.message_received", config).debounce()
}

fn event_type_of(trigger_type: &str, config: &Value) -> Option<String> {
    spec(trigger_type, config).event_type().map(str::to_owned)
}

fn is_conversation_trigger(trigger_type: &str) -> bool {
    spec(trigger_type, &json!({})).is_conversation()
}

fn sentiment(score: f64) -> Value {
    json!({"chatbot_id": "b", "session_id": "s", "message_id": "m", "user_email": null,
           "text": "meh", "score": score, "label": "negative"})
}

fn intent(name: &str, confidence: f64) -> Value {
    json!({"chatbot_id": "b", "session_id": "s", "message_id": "m", "user_email": null,
           "text": "I want my money back", "intent": name, "confidence": confidence})
}

fn message(text: &str) -> Value {
    json!({"chatbot_id": "b", "session_id": "s", "message_id": "m", "user_email": "a@b.c",
           "text": text, "sentiment": {"score": 0.1, "label": "neutral"}, "intent": null})
}

#[test]
fn sentiment_below_fires_at_and_under_the_threshold() {
    let below = json!({"threshold": -0.5, "direction": "below"});
    assert!(trigger_accepts(
        "trigger.sentiment",
        &below,
        &sentiment(-0.8)
    ));
    assert!(trigger_accepts(
        "trigger.sentiment",
        &below,
        &sentiment(-0.5)
    ));
    assert!(trigger_accepts(
        "trigger.sentiment",
        &below,
        &sentiment(-1.0)
    ));
    assert!(!trigger_accepts(
        "trigger.sentiment",
        &below,
        &sentiment(-0.2)
    ));
    assert!(!trigger_accepts(
        "trigger.sentiment",
        &below,
        &sentiment(0.9)
    ));
}

#[test]
fn sentiment_above_fires_at_and_over_the_threshold() {
    let above = json!({"threshold": 0.6, "direction": "above"});
    assert!(trigger_accepts(
        "trigger.sentiment",
        &above,
        &sentiment(0.9)
    ));
    assert!(trigger_accepts(
        "trigger.sentiment",
        &above,
        &sentiment(0.6)
    ));
    assert!(!trigger_accepts(
        "trigger.sentiment",
        &above,
        &sentiment(0.59)
    ));
    assert!(!trigger_accepts(
        "trigger.sentiment",
        &above,
        &sentiment(-0.8)
    ));
}

#[test]
fn sentiment_without_a_score_or_a_usable_config_does_not_fire() {
    let below = json!({"threshold": -0.5, "direction": "below"});
    assert!(!trigger_accepts(
        "trigger.sentiment",
        &below,
        &json!({"text": "x"})
    ));
    assert!(!trigger_accepts(
        "trigger.sentiment",
        &below,
        &json!({"score": "-0.9"})
    ));
    assert!(!trigger_accepts("trigger.sentiment", &below, &Value::Null));
    assert!(!trigger_accepts(
        "trigger.sentiment",
        &json!({"threshold": -0.5}),
        &sentiment(-0.9)
    ));
    assert!(!trigger_accepts(
        "trigger.sentiment",
        &json!({"direction": "below"}),
        &sentiment(-0.9)
    ));
    // The nested shape of message.received works too.
    assert!(trigger_accepts(
        "trigger.sentiment",
        &below,
        &json!({"sentiment": {"score": -0.7, "label": "negative"}})
    ));
}

#[test]
fn contains_is_a_case_insensitive_substring_of_the_text() {
    let refund = json!({"contains": "Refund"});
    for t in ["trigger.message_received", "trigger.conversation_started"] {
        assert!(trigger_accepts(t, &refund, &message("I want a REFUND now")));
        assert!(trigger_accepts(t, &refund, &message("refunds?")));
        assert!(!trigger_accepts(t, &refund, &message("where is my order")));
        assert!(!trigger_accepts(t, &refund, &json!({"text": null})));
        assert!(trigger_accepts(t, &json!({}), &message("anything")));
        assert!(trigger_accepts(t, &json!({"contains": ""}), &message("x")));
        assert!(trigger_accepts(t, &json!({}), &json!({})));
    }
    assert!(trigger_accepts(
        "trigger.message_received",
        &json!({"contains": "ÜBER"}),
        &message("das ist über alles")
    ));
}

#[test]
fn intent_matches_its_name_in_any_case_and_the_minimum_confidence() {
    let refund = json!({"intent": "Refund", "min_confidence": 0.7});
    let t = "trigger.intent_detected";
    assert!(trigger_accepts(t, &refund, &intent("refund", 0.9)));
    assert!(trigger_accepts(t, &refund, &intent("REFUND", 0.7)));
    assert!(!trigger_accepts(t, &refund, &intent("refund", 0.69)));
    assert!(!trigger_accepts(t, &refund, &intent("refunds", 0.99)));
    assert!(!trigger_accepts(t, &refund, &intent("greeting", 0.99)));
    assert!(!trigger_accepts(t, &refund, &json!({"intent": null})));
    // Without a minimum, any confidence.
    let any = json!({"intent": "refund"});
    assert!(trigger_accepts(t, &any, &intent("refund", 0.0)));
    assert!(trigger_accepts(t, &any, &json!({"intent": "refund"})));
    // The nested shape of message.received works too.
    assert!(trigger_accepts(
        t,
        &refund,
        &json!({"intent": {"name": "refund", "confidence": 0.8}})
    ));
    assert!(!trigger_accepts(
        t,
        &refund,
        &json!({"intent": {"name": "refund", "confidence": 0.5}})
    ));
}

#[test]
fn other_triggers_have_no_conditions_here() {
    assert!(trigger_accepts(
        "trigger.event",
        &json!({"event_type": "custom.x", "filter": "false"}),
        &json!({})
    ));
    assert!(trigger_accepts("trigger.webhook", &json!({}), &Value::Null));
}

#[test]
fn debounce_window_is_read_and_bounded() {
    assert_eq!(debounce_window(&json!({})), None);
    assert_eq!(
        debounce_window(&json!({"debounce_seconds": 600})),
        Some(Duration::seconds(600))
    );
    assert_eq!(
        debounce_window(&json!({"debounce_seconds": 600.0})),
        Some(Duration::seconds(600))
    );
    assert_eq!(debounce_window(&json!({"debounce_seconds": 0})), None);
    assert_eq!(debounce_window(&json!({"debounce_seconds": -5})), None);
    assert_eq!(debounce_window(&json!({"debounce_seconds": "60"})), None);
    assert_eq!(
        debounce_window(&json!({"debounce_seconds": 1e12})),
        Some(Duration::seconds(30 * 24 * 3600))
    );
}

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

#[test]
fn only_trigger_kinds_have_a_spec_and_the_conversation_kinds_are_the_conversation_ones() {
    for kind in NodeKind::ALL {
        let spec = TriggerSpec::read(*kind, &json!({}));
        assert_eq!(spec.is_some(), kind.is_trigger(), "{kind}");
        assert_eq!(
            spec.is_some_and(|s| s.is_conversation()),
            TriggerSpec::CONVERSATION_KINDS.contains(kind),
            "{kind}"
        );
    }
}

#[test]
fn only_conversation_triggers_are_debounced_and_only_events_filtered() {
    let with = json!({"debounce_seconds": 60, "filter": "{{ true }}", "event_type": "custom.x"});
    assert_eq!(
        spec("trigger.sentiment", &with).debounce(),
        Some(Duration::seconds(60))
    );
    assert_eq!(spec("trigger.event", &with).debounce(), None);
    let TriggerSpec::Event(event) = spec("trigger.event", &with) else {
        panic!("not an event trigger");
    };
    assert_eq!(event.filter.as_deref(), Some("{{ true }}"));
    let TriggerSpec::Event(blank) = spec("trigger.event", &json!({"filter": "  "})) else {
        panic!("not an event trigger");
    };
    assert_eq!(blank.filter, None);
}
