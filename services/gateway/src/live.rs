//! Live ExecutionUpdates: one subscription to `echoflow.updates`, fanned out to every open stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use echoflow_bus::topology::UPDATES_EXCHANGE;
use echoflow_bus::{BusError, Delivery, HandleError, MessageHandler, SharedBus, Subscription};
use echoflow_contracts::{ExecutionUpdate, UpdateKind};
use serde::Serialize;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::settings::LiveSettings;

/// The `data` of one server-sent event: an ExecutionUpdate as a client sees it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ExecutionUpdateEvent {
    pub execution_id: Uuid,
    pub workflow_id: Uuid,
    pub chatbot_id: Uuid,
    /// `started`, `step_finished` or `finished`; also the SSE event name.
    pub kind: &'static str,
    /// The execution's status, or for `step_finished` the step's.
    pub status: String,
    /// The step's node, on `step_finished`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: i64,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub at: String,
}

/// One update as the gateway received it, ready to be written to any stream that wants it.
#[derive(Debug)]
pub struct LiveUpdate {
    /// Increases by one per update this gateway received: the SSE `id`.
    pub seq: u64,
    pub owner_id: Uuid,
    pub event: ExecutionUpdateEvent,
    /// The event's JSON, serialised once for every stream.
    pub data: String,
}

impl LiveUpdate {
    /// The update as one server-sent event.
    pub fn to_sse(&self) -> String {
        format!(
            "id: {}\nevent: {}\ndata: {}\n\n",
            self.seq, self.event.kind, self.data
        )
    }
}

/// The fan-out point every stream subscribes to.
pub struct LiveUpdates {
    sender: broadcast::Sender<Arc<LiveUpdate>>,
    next_seq: AtomicU64,
    /// How often an idle stream sends `: keep-alive`.
    pub keep_alive: Duration,
    /// Cancelled when the gateway stops: every stream ends then.
    pub stopping: CancellationToken,
}

impl LiveUpdates {
    pub fn new(settings: &LiveSettings, stopping: CancellationToken) -> Self {
        let (sender, _) = broadcast::channel(settings.buffer.max(1));
        Self {
            sender,
            next_seq: AtomicU64::new(1),
            keep_alive: Duration::from_secs(settings.keep_alive_secs.max(1)),
            stopping,
        }
    }

    /// Subscribes this hub to the ExecutionUpdates (`execution.*`) of `echoflow.updates`
    /// (chat's conversation messages share the exchange); the subscription ends with `stopping`.
    pub async fn subscribe(self: &Arc<Self>, bus: &SharedBus) -> Result<Subscription, BusError> {
        bus.subscribe(
            UPDATES_EXCHANGE,
            "execution.#",
            self.clone(),
            self.stopping.clone(),
        )
        .await
    }

    /// A receiver of every update from now on.
    pub fn receiver(&self) -> broadcast::Receiver<Arc<LiveUpdate>> {
        self.sender.subscribe()
    }

    /// Decodes an ExecutionUpdate and hands it to every open stream.
    pub fn accept(&self, body: &[u8]) -> Result<(), String> {
        let update = ExecutionUpdate::decode_bytes(body).map_err(|e| e.to_string())?;
        let (owner_id, event) = event_of(update)?;
        let data = serde_json::to_string(&event).map_err(|e| e.to_string())?;
        let live = LiveUpdate {
            seq: self.next_seq.fetch_add(1, Ordering::Relaxed),
            owner_id,
            event,
            data,
        };
        // An error only means no stream is open.
        let _ = self.sender.send(Arc::new(live));
        Ok(())
    }
}

#[async_trait::async_trait]
impl MessageHandler for LiveUpdates {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandleError> {
        self.accept(&delivery.body)
            .map_err(|reason| HandleError::Permanent(format!("not an ExecutionUpdate: {reason}")))
    }
}

fn event_of(update: ExecutionUpdate) -> Result<(Uuid, ExecutionUpdateEvent), String> {
    let kind = match UpdateKind::try_from(update.kind) {
        Ok(UpdateKind::Started) => "started",
        Ok(UpdateKind::StepFinished) => "step_finished",
        Ok(UpdateKind::Finished) => "finished",
        _ => return Err(format!("unknown kind {}", update.kind)),
    };
    let uuid = |what: &str, value: &str| {
        Uuid::parse_str(value).map_err(|_| format!("{what} {value:?} is not a UUID"))
    };
    let non_empty = |value: String| (!value.is_empty()).then_some(value);
    let event = ExecutionUpdateEvent {
        execution_id: uuid("execution_id", &update.execution_id)?,
        workflow_id: uuid("workflow_id", &update.workflow_id)?,
        chatbot_id: uuid("chatbot_id", &update.chatbot_id)?,
        kind,
        status: update.status,
        node_id: non_empty(update.node_id),
        error: non_empty(update.error),
        duration_ms: update.duration_ms,
        at: update.at,
    };
    Ok((uuid("owner_id", &update.owner_id)?, event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use echoflow_contracts::Message;

    fn update(kind: UpdateKind) -> ExecutionUpdate {
        ExecutionUpdate {
            execution_id: Uuid::new_v4().to_string(),
            workflow_id: Uuid::new_v4().to_string(),
            owner_id: Uuid::new_v4().to_string(),
            chatbot_id: Uuid::new_v4().to_string(),
            kind: kind as i32,
            status: "running".into(),
            node_id: String::new(),
            error: String::new(),
            duration_ms: 0,
            at: "2025-01-01T00:00:00+00:00".into(),
        }
    }

    #[test]
    fn an_update_becomes_one_sse_event_without_empty_fields() {
        let hub = LiveUpdates::new(&LiveSettings::default(), CancellationToken::new());
        let mut receiver = hub.receiver();
        let sent = update(UpdateKind::Started);
        hub.accept(&sent.encode_to_vec()).unwrap();
        let live = receiver.try_recv().unwrap();
        assert_eq!(live.owner_id.to_string(), sent.owner_id);
        let sse = live.to_sse();
        assert!(sse.starts_with("id: 1\nevent: started\ndata: {"), "{sse}");
        assert!(sse.ends_with("}\n\n"), "{sse}");
        assert!(!live.data.contains("node_id") && !live.data.contains("error"));
    }

    #[test]
    fn garbage_and_unknown_kinds_are_refused() {
        let hub = LiveUpdates::new(&LiveSettings::default(), CancellationToken::new());
        assert!(hub.accept(b"\xff\xff not protobuf").is_err());
        assert!(
            hub.accept(&update(UpdateKind::Unspecified).encode_to_vec())
                .is_err()
        );
        let mut bad_owner = update(UpdateKind::Finished);
        bad_owner.owner_id = "someone".into();
        assert!(hub.accept(&bad_owner.encode_to_vec()).is_err());
    }
}
