//! Consumes TriggerEvents from `registry.trigger-events`, matches them to
//! active workflows of the event's chatbot and emits one ExecutionJob per
//! match, all in one transaction with the event's deduplication record and
//! the debounce records of the conversation triggers that fired.

use chrono::Utc;
use echoflow_bus::{Delivery, HandleError, MessageHandler, dedupe, outbox::OutboxHandle};
use echoflow_contracts::{EventType, Message, TriggerEvent};
use echoflow_domain::{EventTrigger, TriggerSpec, expr};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, TransactionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::jobs::{build_job, enqueue};
use crate::lifecycle;
use crate::store::{firings, triggers, versions, workflows};

pub const CONSUMER: &str = "registry.trigger-events";

pub struct TriggerEventConsumer {
    pub db: DatabaseConnection,
    pub relay: OutboxHandle,
}

fn transient(e: impl Into<anyhow::Error>) -> HandleError {
    HandleError::Transient(e.into())
}

#[async_trait::async_trait]
impl MessageHandler for TriggerEventConsumer {
    #[tracing::instrument(skip_all, fields(message_id = %delivery.message_id, routing_key = %delivery.routing_key))]
    async fn handle(&self, delivery: Delivery) -> Result<(), HandleError> {
        let event = TriggerEvent::from_cloudevent_json(&delivery.body)
            .map_err(|e| HandleError::Permanent(e.to_string()))?;
        let chatbot_id = parse_optional_uuid(&event.chatbot_id);
        let owner_id = parse_optional_uuid(&event.user_id);
        let candidates = triggers::matching(&self.db, &event.r#type, chatbot_id, owner_id)
            .await
            .map_err(transient)?;
        let txn = self.db.begin().await.map_err(transient)?;
        // CloudEvents are unique by (source, id); one user's cannot shadow
        // another's (events sent over HTTP carry their sender).
        let key = match owner_id {
            Some(owner) => format!("{owner}#{}#{}", event.source, event.id),
            None => format!("{}#{}", event.source, event.id),
        };
        if !dedupe::first_delivery(&txn, CONSUMER, &key)
            .await
            .map_err(transient)?
        {
            tracing::debug!(key, "duplicate event ignored");
            return Ok(());
        }
        // A chatbot's end (deleted, an end user erased) starts no workflow.
        if let Some(lifecycle) = EventType::parse(&event.r#type).filter(|t| t.is_lifecycle()) {
            let (Some(chatbot), Some(owner)) = (chatbot_id, owner_id) else {
                return Err(HandleError::Permanent(format!(
                    "{lifecycle} without its chatbot and owner"
                )));
            };
            on_lifecycle(&txn, lifecycle, owner, chatbot, &event.data())
                .await
                .map_err(transient)?;
            txn.commit().await.map_err(transient)?;
            return Ok(());
        }
        let data = event.data();
        let mut queued = 0usize;
        for candidate in candidates {
            let Some(wf) = workflows::Entity::find_by_id(candidate.workflow_id)
                .one(&txn)
                .await
                .map_err(transient)?
            else {
                continue;
            };
            let Some(version) = versions::find_plan(&txn, wf.id, wf.current_version)
                .await
                .map_err(transient)?
            else {
                continue;
            };
            let Some(trigger) = version.trigger_spec() else {
                tracing::warn!(workflow_id = %wf.id, "plan without a readable trigger; not run");
                continue;
            };
            if !in_scope(&trigger, &wf, chatbot_id)
                || !passes_filter(wf.id, &trigger, &event)
                || !trigger.accepts(&data)
                || !outside_debounce(&txn, wf.id, &trigger, &event, &data)
                    .await
                    .map_err(transient)?
            {
                continue;
            }
            let job = build_job(&wf, &version, event.clone());
            enqueue(&txn, &job.execution_id, job.encode_to_vec())
                .await
                .map_err(transient)?;
            queued += 1;
        }
        queued += start_error_workflow(&txn, &event, &data, chatbot_id, owner_id)
            .await
            .map_err(transient)?;
        txn.commit().await.map_err(transient)?;
        if queued > 0 {
            self.relay.notify();
        }
        tracing::info!(event_type = %event.r#type, queued, "trigger event matched");
        Ok(())
    }
}

/// What the registry does when a chatbot ends: deletes its workflows, or
/// forgets and audits an end user's erasure.
async fn on_lifecycle<C: ConnectionTrait>(
    txn: &C,
    event_type: EventType,
    owner: Uuid,
    chatbot: Uuid,
    data: &Value,
) -> Result<(), DbErr> {
    match event_type {
        EventType::ChatbotDeleted => {
            let deleted = lifecycle::retire_chatbot(txn, owner, chatbot).await?;
            tracing::info!(%chatbot, deleted, "chatbot deleted: its workflows deleted");
        }
        EventType::EndUserErased => lifecycle::erase_end_user(txn, owner, chatbot, data).await?,
        _ => {}
    }
    Ok(())
}

/// On `execution.failed` naming an `error_workflow_id`: starts that workflow,
/// with the failed execution as its trigger data, when it belongs to the
/// same owner and chatbot and is active. A failure of a run that an error
/// workflow started does not start another (no loops).
async fn start_error_workflow<C: ConnectionTrait>(
    txn: &C,
    event: &TriggerEvent,
    data: &Value,
    chatbot_id: Option<Uuid>,
    owner_id: Option<Uuid>,
) -> Result<usize, DbErr> {
    if !event.is(EventType::ExecutionFailed) {
        return Ok(0);
    }
    let Some(target) = data["error_workflow_id"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
    else {
        return Ok(0);
    };
    if data["trigger"]["type"] == EventType::ExecutionFailed.as_str() {
        tracing::info!(%target, "a run started by a failure failed: no error workflow for it");
        return Ok(0);
    }
    let Some(wf) = workflows::Entity::find_by_id(target).one(txn).await? else {
        return Ok(0);
    };
    if Some(wf.owner_id) != owner_id || Some(wf.chatbot_id) != chatbot_id || !wf.is_active {
        tracing::warn!(%target, "error workflow not started: another owner's or chatbot's, or inactive");
        return Ok(0);
    }
    let Some(version) = versions::find_plan(txn, wf.id, wf.current_version).await? else {
        return Ok(0);
    };
    let job = build_job(&wf, &version, event.clone());
    enqueue(txn, &job.execution_id, job.encode_to_vec()).await?;
    Ok(1)
}

/// A conversation trigger fires only for events of its own workflow's
/// chatbot (the index already narrows by chatbot; this guards a stale row).
fn in_scope(trigger: &TriggerSpec, wf: &workflows::Model, chatbot_id: Option<Uuid>) -> bool {
    !trigger.is_conversation() || chatbot_id == Some(wf.chatbot_id)
}

/// With `debounce_seconds`, claims this firing for the event's conversation
/// in the consumer's transaction; false when the workflow already fired for
/// that conversation within the window. An event that names no conversation
/// is not debounced.
async fn outside_debounce<C: ConnectionTrait>(
    txn: &C,
    workflow_id: Uuid,
    trigger: &TriggerSpec,
    event: &TriggerEvent,
    data: &Value,
) -> Result<bool, DbErr> {
    let Some(window) = trigger.debounce() else {
        return Ok(true);
    };
    let Some(key) = conversation_key(&event.subject, data) else {
        return Ok(true);
    };
    let claimed = firings::claim(txn, workflow_id, &key, Utc::now(), window).await?;
    if !claimed {
        tracing::debug!(%workflow_id, conversation = key, "debounced");
    }
    Ok(claimed)
}

fn parse_optional_uuid(s: &str) -> Option<Uuid> {
    if s.is_empty() {
        None
    } else {
        Uuid::parse_str(s).ok()
    }
}

/// A `trigger.event` node may carry a `filter` expression over `event`.
fn passes_filter(workflow_id: Uuid, trigger: &TriggerSpec, event: &TriggerEvent) -> bool {
    let TriggerSpec::Event(EventTrigger {
        filter: Some(filter),
        ..
    }) = trigger
    else {
        return true;
    };
    let ctx = json!({"event": event.to_cloudevent_value(), "trigger": {"data": event.data(), "type": event.r#type}});
    match expr::eval_condition(filter, &ctx) {
        Ok(pass) => pass,
        Err(e) => {
            tracing::warn!(error = %e, %workflow_id, "trigger filter failed; not run");
            false
        }
    }
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
