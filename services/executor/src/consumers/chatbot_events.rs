//! Consumes the chatbot lifecycle events from `executor.chatbot-events`:
//! on `chatbot.deleted` the chatbot's unfinished executions are cancelled
//! (queued, running, or waiting on a retry, a delay or a free slot), and a
//! job of it that arrives later is cancelled instead of run; on
//! `chatbot.end_user_erased` the executions the end user's conversations
//! started are cancelled if unfinished and their payloads erased. Finished
//! executions of a deleted chatbot are kept, as those of a deleted workflow
//! are (the owner's record, pruned by retention). Each event is handled once
//! (its id is recorded in the transaction of its effects); an unreadable one
//! is dead-lettered.

use chrono::Utc;
use echoflow_bus::{Delivery, HandleError, MessageHandler, dedupe, outbox::OutboxHandle};
use echoflow_contracts::{EventType, TriggerEvent};
use echoflow_service_kit::db::begin_writer;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait};
use serde_json::Value;
use uuid::Uuid;

use crate::background::waker::WakerHandle;
use crate::engine::finish::{Ending, finish_in};
use crate::store::{erasure, executions, status, wakeups};

pub const CONSUMER: &str = "executor.chatbot-events";

pub struct ChatbotEventConsumer {
    pub db: DatabaseConnection,
    pub relay: OutboxHandle,
    pub waker: WakerHandle,
}

fn transient(e: impl Into<anyhow::Error>) -> HandleError {
    HandleError::Transient(e.into())
}

fn uuid_of(event: &TriggerEvent, name: &str, value: &str) -> Result<Uuid, HandleError> {
    Uuid::parse_str(value)
        .map_err(|_| HandleError::Permanent(format!("{} without a valid {name}", event.r#type)))
}

#[async_trait::async_trait]
impl MessageHandler for ChatbotEventConsumer {
    #[tracing::instrument(skip_all, fields(message_id = %delivery.message_id, routing_key = %delivery.routing_key))]
    async fn handle(&self, delivery: Delivery) -> Result<(), HandleError> {
        let event = TriggerEvent::from_cloudevent_json(&delivery.body)
            .map_err(|e| HandleError::Permanent(e.to_string()))?;
        // Users' own `chatbot.*` events reach this queue too: not ours.
        let Some(kind) = EventType::parse(&event.r#type).filter(|t| t.is_lifecycle()) else {
            return Ok(());
        };
        let chatbot = uuid_of(&event, "chatbotid", &event.chatbot_id)?;
        let owner = uuid_of(&event, "userid", &event.user_id)?;
        let data = event.data();
        let erasing = match kind {
            EventType::EndUserErased => Some(ErasedEndUser::read(&data)?),
            _ => None,
        };
        let txn = begin_writer(&self.db).await.map_err(transient)?;
        let key = format!("{}#{}", event.source, event.id);
        if !dedupe::first_delivery(&txn, CONSUMER, &key)
            .await
            .map_err(transient)?
        {
            tracing::debug!(key, "duplicate event ignored");
            return Ok(());
        }
        let touched = match &erasing {
            None => cancel_chatbot(&txn, owner, chatbot).await,
            Some(user) => erase_end_user(&txn, owner, chatbot, user).await,
        }
        .map_err(transient)?;
        txn.commit().await.map_err(transient)?;
        self.relay.notify();
        self.waker.due_at(Utc::now());
        tracing::info!(event_type = %event.r#type, %chatbot, touched, "chatbot event handled");
        Ok(())
    }
}

/// The end user an erasure names.
struct ErasedEndUser {
    email: String,
    sessions: Vec<String>,
}

impl ErasedEndUser {
    fn read(data: &Value) -> Result<Self, HandleError> {
        let email = data["email"]
            .as_str()
            .filter(|e| e.contains('@'))
            .ok_or_else(|| HandleError::Permanent("an erasure without an email".into()))?;
        let sessions = data["session_ids"]
            .as_array()
            .map(|ids| {
                ids.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            email: email.to_string(),
            sessions,
        })
    }
}

/// Cancels one unfinished execution: its wait first (so waking the next
/// waiter cannot pick it), then its end.
async fn cancel<C: ConnectionTrait>(
    txn: &C,
    execution: &executions::Model,
    reason: &str,
) -> Result<(), DbErr> {
    wakeups::cancel(txn, execution.id).await?;
    let limited = execution
        .plan
        .as_ref()
        .and_then(|p| p.pointer("/settings/max_concurrency"))
        .is_some_and(|v| !v.is_null());
    let end = Ending {
        status: status::CANCELLED,
        error: Some(reason.to_string()),
        failed: None,
        dead_letter: false,
    };
    finish_in(txn, execution, &end, limited).await?;
    Ok(())
}

/// Remembers the chatbot as deleted and cancels its unfinished executions.
async fn cancel_chatbot<C: ConnectionTrait>(
    txn: &C,
    owner: Uuid,
    chatbot: Uuid,
) -> Result<usize, DbErr> {
    erasure::retire_chatbot(txn, chatbot).await?;
    let mut cancelled = 0;
    loop {
        // Each page ends cancelled, so the next read starts after it.
        let page = erasure::unfinished(txn, owner, chatbot).await?;
        if page.is_empty() {
            return Ok(cancelled);
        }
        for execution in &page {
            cancel(txn, execution, erasure::CHATBOT_DELETED).await?;
        }
        cancelled += page.len();
    }
}

/// Cancels the end user's unfinished executions and erases the payloads of
/// all of them.
async fn erase_end_user<C: ConnectionTrait>(
    txn: &C,
    owner: Uuid,
    chatbot: Uuid,
    user: &ErasedEndUser,
) -> Result<usize, DbErr> {
    let ids = erasure::started_by(txn, owner, chatbot, &user.email, &user.sessions).await?;
    for id in &ids {
        let Some(execution) = executions::Entity::find_by_id(*id).one(txn).await? else {
            continue;
        };
        erasure::erase_payloads(txn, &execution).await?;
        if !status::is_terminal(&execution.status) {
            cancel(txn, &execution, "cancelled: its end user's data was erased").await?;
        }
    }
    Ok(ids.len())
}
