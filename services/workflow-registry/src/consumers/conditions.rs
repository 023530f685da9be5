//! The conditions of conversation triggers, checked against an event's data:
//! pure functions, so the rules are tested without a bus or a database.

use chrono::Duration;
use echoflow_domain::catalogue::MAX_DEBOUNCE_SECONDS;
use serde_json::Value;

/// Whether a trigger of `trigger_type` configured with `config` accepts an
/// event carrying `data`. Triggers without conditions of their own (such as
/// `trigger.event`, whose `filter` is an expression) accept every event.
///
/// - `trigger.conversation_started`, `trigger.message_received`: `contains`,
///   when given and not empty, must be a case-insensitive substring of `text`.
/// - `trigger.sentiment`: `score` <= `threshold` (`below`) or >= (`above`).
/// - `trigger.intent_detected`: `intent` equals the configured one in any
///   case, and `confidence` >= `min_confidence` (default 0).
pub fn trigger_accepts(trigger_type: &str, config: &Value, data: &Value) -> bool {
    match trigger_type {
        "trigger.conversation_started" | "trigger.message_received" => text_contains(config, data),
        "trigger.sentiment" => sentiment_crosses(config, data),
        "trigger.intent_detected" => intent_matches(config, data),
        _ => true,
    }
}

fn text_contains(config: &Value, data: &Value) -> bool {
    let Some(needle) = config
        .get("contains")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    else {
        return true;
    };
    data.get("text")
        .and_then(Value::as_str)
        .is_some_and(|text| text.to_lowercase().contains(&needle.to_lowercase()))
}

fn sentiment_crosses(config: &Value, data: &Value) -> bool {
    let Some(threshold) = config.get("threshold").and_then(Value::as_f64) else {
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
    match config.get("direction").and_then(Value::as_str) {
        Some("below") => score <= threshold,
        Some("above") => score >= threshold,
        _ => false,
    }
}

fn intent_matches(config: &Value, data: &Value) -> bool {
    let Some(wanted) = config
        .get("intent")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|w| !w.is_empty())
    else {
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
    let min_confidence = config
        .get("min_confidence")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let confidence = confidence.and_then(Value::as_f64).unwrap_or(0.0);
    name.trim().to_lowercase() == wanted.to_lowercase() && confidence >= min_confidence
}

/// The debounce window of a trigger config (`debounce_seconds`), if any.
pub fn debounce_window(config: &Value) -> Option<Duration> {
    let seconds = config.get("debounce_seconds").and_then(Value::as_f64)?;
    if seconds < 1.0 {
        return None;
    }
    // The schema bounds it; an older or hand-made plan is clamped, not trusted.
    let seconds = (seconds as u64).min(MAX_DEBOUNCE_SECONDS);
    i64::try_from(seconds).ok().map(Duration::seconds)
}

/// The conversation an event belongs to, for debouncing: the data's
/// `session_id`, else the CloudEvent's `subject` (the chat service sets both).
pub fn conversation_key(subject: &str, data: &Value) -> Option<String> {
    match data.get("session_id") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => Some(subject.to_string()).filter(|s| !s.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn the_conversation_is_the_session_or_else_the_subject() {
        assert_eq!(
            conversation_key("subj", &json!({"session_id": "s1"})).as_deref(),
            Some("s1")
        );
        assert_eq!(
            conversation_key("subj", &json!({"session_id": null})).as_deref(),
            Some("subj")
        );
        assert_eq!(
            conversation_key("subj", &json!({})).as_deref(),
            Some("subj")
        );
        assert_eq!(conversation_key("", &json!({})), None);
        assert_eq!(conversation_key("", &json!({"session_id": ""})), None);
    }
}
