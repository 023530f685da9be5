//! The transactional outbox: messages written with the state change that causes them, relayed to the bus.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::{
    ColumnDef, Expr, ExprTrait, LockBehavior, LockType, Order, Query, Table, TableCreateStatement,
};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, DeriveIden, QueryResult,
    TransactionTrait,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{Backoff, BusError, OutgoingMessage, SharedBus, trace};

/// Rows taken per round.
const BATCH_SIZE: u64 = 256;
/// How long the relay sleeps when the outbox is empty and nobody calls [`OutboxHandle::notify`].
const IDLE_POLL: Duration = Duration::from_millis(250);

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    MessageId,
    Exchange,
    RoutingKey,
    ContentType,
    Headers,
    Body,
    CreatedAt,
}

/// `CREATE TABLE IF NOT EXISTS outbox (...)`, for the migrations of every slice.
pub fn create_table_statement() -> TableCreateStatement {
    Table::create()
        .table(Outbox::Table)
        .if_not_exists()
        .col(
            // bigint identity on PostgreSQL, INTEGER PRIMARY KEY AUTOINCREMENT on SQLite.
            ColumnDef::new(Outbox::Id)
                .big_integer()
                .not_null()
                .auto_increment()
                .primary_key(),
        )
        .col(ColumnDef::new(Outbox::MessageId).text().not_null())
        .col(ColumnDef::new(Outbox::Exchange).text().not_null())
        .col(ColumnDef::new(Outbox::RoutingKey).text().not_null())
        .col(ColumnDef::new(Outbox::ContentType).text().not_null())
        // JSON object of string header values, kept as text so both databases read it alike.
        .col(ColumnDef::new(Outbox::Headers).text().not_null())
        .col(ColumnDef::new(Outbox::Body).blob().not_null())
        .col(
            ColumnDef::new(Outbox::CreatedAt)
                .timestamp_with_time_zone()
                .not_null(),
        )
        .to_owned()
}

/// Writes `message` to the outbox; call it inside the transaction of the state change it announces.
/// The current trace context is recorded with it, so the relayed message continues this trace.
pub async fn enqueue<C: ConnectionTrait>(
    conn: &C,
    exchange: &str,
    message: &OutgoingMessage,
) -> Result<(), DbErr> {
    let mut headers = message.headers.clone();
    trace::inject_current(&mut headers);
    let headers =
        serde_json::to_string(&headers).map_err(|error| DbErr::Custom(error.to_string()))?;
    let insert = Query::insert()
        .into_table(Outbox::Table)
        .columns([
            Outbox::MessageId,
            Outbox::Exchange,
            Outbox::RoutingKey,
            Outbox::ContentType,
            Outbox::Headers,
            Outbox::Body,
            Outbox::CreatedAt,
        ])
        .values([
            Expr::val(message.message_id.as_str()),
            Expr::val(exchange),
            Expr::val(message.routing_key.as_str()),
            Expr::val(message.content_type.as_str()),
            Expr::val(headers),
            Expr::val(message.body.clone()),
            Expr::val(chrono::Utc::now()),
        ])
        .map_err(|error| DbErr::Custom(error.to_string()))?
        .to_owned();
    conn.execute(&insert).await?;
    Ok(())
}

/// Publishes outbox rows to the bus and deletes them once the broker confirmed them.
pub struct OutboxRelay;

impl OutboxRelay {
    /// Starts the relay on the current tokio runtime; it stops when `shutdown` is cancelled.
    pub fn spawn(
        db: DatabaseConnection,
        bus: SharedBus,
        shutdown: CancellationToken,
    ) -> OutboxHandle {
        let handle = OutboxHandle {
            wake: Arc::new(Notify::new()),
            stopped: CancellationToken::new(),
        };
        tokio::spawn(run(db, bus, shutdown, handle.clone()));
        handle
    }
}

/// Talks to a running relay.
#[derive(Clone, Debug)]
pub struct OutboxHandle {
    wake: Arc<Notify>,
    stopped: CancellationToken,
}

impl OutboxHandle {
    /// Wakes the relay now; call it after committing a transaction that enqueued messages.
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// Resolves once the relay has stopped (after shutdown, with its last batch finished).
    pub async fn stopped(&self) {
        self.stopped.cancelled().await;
    }
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("outbox database error")]
    Db(#[from] DbErr),
    #[error("{failed} of {total} outbox messages were not published")]
    Bus {
        failed: usize,
        total: usize,
        #[source]
        first: BusError,
    },
}

async fn run(
    db: DatabaseConnection,
    bus: SharedBus,
    shutdown: CancellationToken,
    handle: OutboxHandle,
) {
    let mut backoff = Backoff::new();
    while !shutdown.is_cancelled() {
        match relay_batch(&db, &bus).await {
            Ok(relayed) => {
                backoff.reset();
                // A full batch may have left more behind; a partial one
                // emptied the table, and a commit since then has stored a
                // wake-up permit, so waiting loses nothing.
                if relayed >= BATCH_SIZE as usize {
                    continue;
                }
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = handle.wake.notified() => {}
                    () = tokio::time::sleep(IDLE_POLL) => {}
                }
            }
            Err(error) => {
                tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    "outbox relay failed; backing off"
                );
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(backoff.next_delay()) => {}
                }
            }
        }
    }
    handle.stopped.cancel();
}

/// Relays one batch; returns how many rows were published and deleted.
async fn relay_batch(db: &DatabaseConnection, bus: &SharedBus) -> Result<usize, RelayError> {
    match db.get_database_backend() {
        // Row locks let several replicas relay the same slice without publishing a row twice.
        DatabaseBackend::Postgres => {
            let txn = db.begin().await?;
            let relayed = relay_rows(&txn, bus, true).await;
            // Commit even after a partial failure so the published rows stay deleted.
            txn.commit().await?;
            relayed
        }
        // One process per SQLite file: no locking clause, and no transaction held while publishing.
        _ => relay_rows(db, bus, false).await,
    }
}

struct Row {
    id: i64,
    exchange: String,
    message: OutgoingMessage,
}

async fn relay_rows<C: ConnectionTrait>(
    conn: &C,
    bus: &SharedBus,
    lock: bool,
) -> Result<usize, RelayError> {
    let rows = take_batch(conn, lock).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let outcomes = futures::future::join_all(
        rows.iter()
            .map(|row| bus.publish(&row.exchange, row.message.clone())),
    )
    .await;
    let mut published = Vec::with_capacity(rows.len());
    let mut failures = Vec::new();
    for (row, outcome) in rows.iter().zip(outcomes) {
        match outcome {
            Ok(()) => published.push(row.id),
            Err(error) => failures.push(error),
        }
    }
    if !published.is_empty() {
        let delete = Query::delete()
            .from_table(Outbox::Table)
            .and_where(Expr::col(Outbox::Id).is_in(published.iter().copied()))
            .to_owned();
        conn.execute(&delete).await?;
    }
    let total = rows.len();
    match failures.into_iter().next() {
        None => Ok(total),
        Some(first) => Err(RelayError::Bus {
            failed: total - published.len(),
            total,
            first,
        }),
    }
}

async fn take_batch<C: ConnectionTrait>(conn: &C, lock: bool) -> Result<Vec<Row>, DbErr> {
    let mut select = Query::select();
    select
        .columns([
            Outbox::Id,
            Outbox::MessageId,
            Outbox::Exchange,
            Outbox::RoutingKey,
            Outbox::ContentType,
            Outbox::Headers,
            Outbox::Body,
        ])
        .from(Outbox::Table)
        .order_by(Outbox::Id, Order::Asc)
        .limit(BATCH_SIZE);
    if lock {
        select.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    conn.query_all(&select).await?.iter().map(row_of).collect()
}

fn row_of(result: &QueryResult) -> Result<Row, DbErr> {
    let id: i64 = result.try_get("", "id")?;
    let headers: String = result.try_get("", "headers")?;
    let headers: BTreeMap<String, String> =
        serde_json::from_str(&headers).unwrap_or_else(|error| {
            // Publishing without headers beats holding up the whole outbox.
            tracing::warn!(id, error = %error, "outbox row has unreadable headers");
            BTreeMap::new()
        });
    Ok(Row {
        id,
        exchange: result.try_get("", "exchange")?,
        message: OutgoingMessage {
            message_id: result.try_get("", "message_id")?,
            routing_key: result.try_get("", "routing_key")?,
            content_type: result.try_get("", "content_type")?,
            headers,
            body: result.try_get("", "body")?,
        },
    })
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};

    #[test]
    fn outbox_table_autoincrements_on_both_databases() {
        let sqlite = super::create_table_statement().to_string(SqliteQueryBuilder);
        assert!(
            sqlite.contains(r#""id" integer NOT NULL PRIMARY KEY AUTOINCREMENT"#),
            "{sqlite}"
        );
        assert!(sqlite.contains("IF NOT EXISTS"), "{sqlite}");
        let postgres = super::create_table_statement().to_string(PostgresQueryBuilder);
        assert!(
            postgres.contains(r#""id" bigint GENERATED BY DEFAULT AS IDENTITY"#),
            "{postgres}"
        );
        assert!(postgres.contains(r#""body" bytea"#), "{postgres}");
        assert!(
            postgres.contains(r#""created_at" timestamp with time zone"#),
            "{postgres}"
        );
    }
}
