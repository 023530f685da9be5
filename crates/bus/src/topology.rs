//! Names of the exchanges and queues every echoflow service agrees on.

/// Topic exchange for TriggerEvents (CloudEvents JSON); routing key = event type.
pub const EVENTS_EXCHANGE: &str = "echoflow.events";
/// Topic exchange for ExecutionJobs; producers use the routing key `"execution"`.
pub const JOBS_EXCHANGE: &str = "echoflow.jobs";
/// Topic exchange for ExecutionUpdates.
pub const UPDATES_EXCHANGE: &str = "echoflow.updates";
/// Topic exchange for WebhookResponses: what a waiting webhook caller is
/// answered with; every registry replica subscribes to it.
pub const RESPONSES_EXCHANGE: &str = "echoflow.responses";
/// Topic exchange that receives dead-lettered messages.
pub const DEAD_LETTER_EXCHANGE: &str = "echoflow.dlx";
/// Quorum queue bound to [`EVENTS_EXCHANGE`] with `#`.
pub const REGISTRY_TRIGGER_EVENTS: &str = "registry.trigger-events";
/// Quorum queue bound to [`JOBS_EXCHANGE`] with `#`.
pub const EXECUTOR_JOBS: &str = "executor.jobs";
/// Quorum queue bound to [`EVENTS_EXCHANGE`] with [`CHATBOT_EVENTS_BINDING`]:
/// the chatbot lifecycle events (deleted, end user erased) for the executor.
pub const EXECUTOR_CHATBOT_EVENTS: &str = "executor.chatbot-events";
/// The routing keys of the chatbot lifecycle events (`chatbot.deleted`, `chatbot.end_user_erased`).
pub const CHATBOT_EVENTS_BINDING: &str = "chatbot.*";
/// Quorum queue bound to [`DEAD_LETTER_EXCHANGE`] with `#`.
pub const EXECUTOR_DEAD: &str = "executor.dead";

/// How many times a work queue delivers a message before the broker dead-letters it.
pub const DELIVERY_LIMIT: u32 = 20;

/// Routing key that `executor.jobs` producers use on [`JOBS_EXCHANGE`].
pub const EXECUTION_ROUTING_KEY: &str = "execution";

/// Every exchange of the topology (all of them topic exchanges).
pub const EXCHANGES: [&str; 5] = [
    EVENTS_EXCHANGE,
    JOBS_EXCHANGE,
    UPDATES_EXCHANGE,
    RESPONSES_EXCHANGE,
    DEAD_LETTER_EXCHANGE,
];

/// One queue of the topology and the binding that feeds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSpec {
    pub name: &'static str,
    pub exchange: &'static str,
    pub binding_key: &'static str,
    /// Work queues dead-letter to [`DEAD_LETTER_EXCHANGE`] after [`DELIVERY_LIMIT`] deliveries.
    pub dead_letters: bool,
}

/// Every queue of the topology.
pub const QUEUES: [QueueSpec; 4] = [
    QueueSpec {
        name: REGISTRY_TRIGGER_EVENTS,
        exchange: EVENTS_EXCHANGE,
        binding_key: "#",
        dead_letters: true,
    },
    QueueSpec {
        name: EXECUTOR_JOBS,
        exchange: JOBS_EXCHANGE,
        binding_key: "#",
        dead_letters: true,
    },
    QueueSpec {
        name: EXECUTOR_CHATBOT_EVENTS,
        exchange: EVENTS_EXCHANGE,
        binding_key: CHATBOT_EVENTS_BINDING,
        dead_letters: true,
    },
    QueueSpec {
        name: EXECUTOR_DEAD,
        exchange: DEAD_LETTER_EXCHANGE,
        binding_key: "#",
        dead_letters: false,
    },
];

/// Whether `routing_key` matches the AMQP topic `pattern` (`*` = one word, `#` = zero or more words).
pub fn topic_matches(pattern: &str, routing_key: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = if routing_key.is_empty() {
        Vec::new()
    } else {
        routing_key.split('.').collect()
    };
    words_match(&pattern, &key)
}

fn words_match(pattern: &[&str], key: &[&str]) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some((&"#", rest)) => (0..=key.len()).any(|skip| words_match(rest, &key[skip..])),
        Some((&word, rest)) => match key.split_first() {
            Some((&first, key_rest)) => {
                (word == "*" || word == first) && words_match(rest, key_rest)
            }
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn hash_matches_everything() {
        assert!(topic_matches("#", "message.received"));
        assert!(topic_matches("#", "a"));
        assert!(topic_matches("#", ""));
    }

    #[test]
    fn star_matches_exactly_one_word() {
        assert!(topic_matches("message.*", "message.received"));
        assert!(!topic_matches("message.*", "message"));
        assert!(!topic_matches("message.*", "message.received.late"));
        assert!(topic_matches("*.received", "message.received"));
        assert!(!topic_matches("*.received", "received"));
    }

    #[test]
    fn hash_matches_zero_or_more_words_anywhere() {
        assert!(topic_matches("custom.#", "custom"));
        assert!(topic_matches("custom.#", "custom.a.b.c"));
        assert!(!topic_matches("custom.#", "other.a"));
        assert!(topic_matches("#.analyzed", "image.analyzed"));
        assert!(topic_matches("#.analyzed", "analyzed"));
        assert!(topic_matches("a.#.z", "a.z"));
        assert!(topic_matches("a.#.z", "a.b.c.z"));
        assert!(!topic_matches("a.#.z", "a.b.c"));
        assert!(topic_matches("a.*.#", "a.b"));
        assert!(!topic_matches("a.*.#", "a"));
    }

    #[test]
    fn literal_words_must_be_equal() {
        assert!(topic_matches("execution", "execution"));
        assert!(!topic_matches("execution", "executions"));
        assert!(!topic_matches("execution", "execution.x"));
        assert!(!topic_matches("execution", ""));
    }
}
