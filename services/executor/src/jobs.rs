//! Jobs the executor queues itself: resumed waits, retries and replays,
//! written to the outbox of the transaction that decided them.

use echoflow_bus::{OutgoingMessage, outbox, topology::JOBS_EXCHANGE};
use echoflow_contracts::{ExecutionJob, JOB_ROUTING_KEY, Message, PROTOBUF_CONTENT_TYPE};
use sea_orm::{ConnectionTrait, DbErr};

pub async fn enqueue<C: ConnectionTrait>(conn: &C, job: &ExecutionJob) -> Result<(), DbErr> {
    // A message id per enqueue: a resumed execution is the same execution
    // but a new message, which consumers must not drop as a duplicate.
    let message = OutgoingMessage::new(
        uuid::Uuid::now_v7().to_string(),
        JOB_ROUTING_KEY,
        PROTOBUF_CONTENT_TYPE,
        job.encode_to_vec(),
    );
    outbox::enqueue(conn, JOBS_EXCHANGE, &message).await
}
