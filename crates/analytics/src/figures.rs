//! What an overview answers: each service's slice and the gateway's composition of them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::range::Bucket;

/// How many intents, workflows and steps a top list holds.
pub const TOP: usize = 10;

/// The internal query each service answers for its slice (`/internal/analytics/...`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SliceQuery {
    pub owner_id: Uuid,
    pub chatbot_id: Option<Uuid>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket: Bucket,
}

/// End users' messages by sentiment label.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Sentiment {
    pub positive: u64,
    pub neutral: u64,
    pub negative: u64,
    /// The mean score (-1 to 1) of the scored messages; null when there are none.
    pub average_score: Option<f64>,
}

/// Replies to end users by where they came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Replies {
    /// Answered from the chatbot's FAQ.
    pub faq: u64,
    /// Answered by the language model.
    pub llm: u64,
    /// Nothing matched: the fallback message.
    pub fallback: u64,
    /// `faq / (faq + llm + fallback)`; null when there were no replies.
    pub faq_hit_rate: Option<f64>,
    /// `fallback / (faq + llm + fallback)`; null when there were no replies.
    pub fallback_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IntentCount {
    pub name: String,
    pub count: u64,
}

/// One bucket of the conversation trend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConversationBucket {
    /// The bucket's first instant (UTC).
    pub start: DateTime<Utc>,
    pub conversations: u64,
    pub messages: u64,
    pub sentiment: Sentiment,
}

/// Chat's slice: the conversations of the range.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConversationFigures {
    /// Conversations started in the range.
    pub conversations: u64,
    /// Every message written in the range (end users', replies, welcomes, workflows').
    pub messages: u64,
    /// The end users' own messages among them.
    pub end_user_messages: u64,
    /// End users with a conversation active in the range (one without an email counts once).
    pub unique_end_users: u64,
    pub sentiment: Sentiment,
    pub replies: Replies,
    /// The most detected intents, most frequent first (ties by name).
    pub top_intents: Vec<IntentCount>,
    /// Every bucket of the range, oldest first, zeros included.
    pub buckets: Vec<ConversationBucket>,
}

/// Executions by status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ByStatus {
    /// Queued in the range and not started yet.
    pub queued: u64,
    /// Queued in the range and running now.
    pub running: u64,
    /// Ended in the range.
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
}

/// Durations (start to end) of the executions that completed or failed in the range.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Durations {
    /// How many durations the percentiles are over.
    pub count: u64,
    /// Milliseconds, rounded up to two significant digits (1234 ms is 1300); null without executions.
    pub p50: Option<u64>,
    pub p95: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FailingWorkflow {
    pub workflow_id: Uuid,
    /// Executions of the workflow that failed in the range.
    pub failures: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FailingStep {
    pub workflow_id: Uuid,
    pub node_id: String,
    /// Failed runs of the step, in executions that ended in the range.
    pub failures: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeadLetters {
    /// Dead letters recorded in the range.
    pub total: u64,
    /// Those among them not replayed yet.
    pub not_replayed: u64,
}

/// One bucket of the execution trend: executions that ended in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionBucket {
    pub start: DateTime<Utc>,
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
}

/// The executor's slice: the executions of the range.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionFigures {
    pub by_status: ByStatus,
    pub duration_ms: Durations,
    /// Most failures first (ties by id).
    pub top_failing_workflows: Vec<FailingWorkflow>,
    /// Most failures first (ties by workflow, then node).
    pub top_failing_steps: Vec<FailingStep>,
    pub dead_letters: DeadLetters,
    /// Every bucket of the range, oldest first, zeros included.
    pub buckets: Vec<ExecutionBucket>,
}

/// `GET /api/v1/analytics/overview`: the caller's figures for one range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Overview {
    /// The chatbot the figures are limited to; null for all of the caller's.
    pub chatbot_id: Option<Uuid>,
    /// The range covered: `from` rounded down and `to` up to whole hours (UTC).
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket: Bucket,
    pub conversations: ConversationFigures,
    pub executions: ExecutionFigures,
}
