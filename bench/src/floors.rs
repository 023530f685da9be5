//! What the machine physically allows, measured with the drivers echoflow
//! uses: a RabbitMQ round trip (persistent, confirmed, acked, quorum queue)
//! and a one-row insert + commit on PostgreSQL and on SQLite.

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

use crate::stats::{Latency, round};

#[derive(Debug, Clone, Serialize, Default)]
pub struct BrokerFloor {
    /// One message at a time: publish (confirmed) until the consumer has it.
    pub round_trip: Latency,
    /// Pipelined: messages per second through publish, confirm, deliver, ack.
    pub messages_per_sec: f64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct CommitFloor {
    /// One connection, one row per transaction.
    pub one_connection: Latency,
    pub one_connection_tps: f64,
    /// 16 connections at once.
    pub sixteen_connections: Latency,
    pub sixteen_connections_tps: f64,
}

pub async fn rabbitmq(
    amqp_url: &str,
    round_trips: usize,
    pipelined: usize,
) -> anyhow::Result<BrokerFloor> {
    let conn = Connection::connect(amqp_url, ConnectionProperties::default()).await?;
    let publisher = conn.create_channel().await?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let consumer_channel = conn.create_channel().await?;
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    let queue = "bench.floor";
    publisher
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            args,
        )
        .await?;
    consumer_channel
        .basic_qos(256, BasicQosOptions::default())
        .await?;
    let mut consumer = consumer_channel
        .basic_consume(
            queue.into(),
            "floor".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let consuming = tokio::spawn(async move {
        while let Some(Ok(delivery)) = consumer.next().await {
            if delivery.ack(BasicAckOptions::default()).await.is_err() {
                break;
            }
            if tx.send(()).is_err() {
                break;
            }
        }
    });
    let props = || BasicProperties::default().with_delivery_mode(2);
    let body = vec![b'x'; 256];

    let mut samples = Vec::with_capacity(round_trips);
    for _ in 0..round_trips {
        let started = Instant::now();
        let confirm = publisher
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                &body,
                props(),
            )
            .await?;
        let (confirmed, received) = tokio::join!(confirm, rx.recv());
        confirmed?;
        received.ok_or_else(|| anyhow::anyhow!("floor consumer stopped"))?;
        samples.push(started.elapsed());
    }

    let started = Instant::now();
    let publisher = Arc::new(publisher);
    let sender = {
        let publisher = publisher.clone();
        let body = body.clone();
        tokio::spawn(async move {
            let mut pending = futures::stream::FuturesUnordered::new();
            for _ in 0..pipelined {
                let confirm = publisher
                    .basic_publish(
                        "".into(),
                        queue.into(),
                        BasicPublishOptions::default(),
                        &body,
                        props(),
                    )
                    .await?;
                pending.push(confirm);
                while pending.len() >= 256 {
                    if let Some(r) = pending.next().await {
                        r?;
                    }
                }
            }
            while let Some(r) = pending.next().await {
                r?;
            }
            Ok::<_, lapin::Error>(())
        })
    };
    for _ in 0..pipelined {
        rx.recv()
            .await
            .ok_or_else(|| anyhow::anyhow!("floor consumer stopped"))?;
    }
    sender.await??;
    let elapsed = started.elapsed();
    consuming.abort();
    let _ = conn.close(200, "bench done".into()).await;
    Ok(BrokerFloor {
        round_trip: Latency::of(&samples),
        messages_per_sec: round(pipelined as f64 / elapsed.as_secs_f64()),
    })
}

async fn commit_floor(
    db: DatabaseConnection,
    backend: DbBackend,
    create: &str,
    insert: &str,
    sequential: usize,
    concurrent_each: usize,
    concurrency: usize,
) -> anyhow::Result<CommitFloor> {
    db.execute_unprepared(create).await?;
    let one = |db: DatabaseConnection, n: usize| {
        let insert = insert.to_string();
        async move {
            let mut samples = Vec::with_capacity(n);
            for i in 0..n {
                let started = Instant::now();
                db.execute_raw(Statement::from_sql_and_values(
                    backend,
                    &insert,
                    [format!("row {i}").into()],
                ))
                .await?;
                samples.push(started.elapsed());
            }
            Ok::<_, sea_orm::DbErr>(samples)
        }
    };
    let started = Instant::now();
    let single = one(db.clone(), sequential).await?;
    let single_tps = sequential as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| tokio::spawn(one(db.clone(), concurrent_each)))
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let many_tps = all.len() as f64 / started.elapsed().as_secs_f64();
    db.close().await?;
    Ok(CommitFloor {
        one_connection: Latency::of(&single),
        one_connection_tps: round(single_tps),
        sixteen_connections: Latency::of(&all),
        sixteen_connections_tps: round(many_tps),
    })
}

/// PostgreSQL: `INSERT` of one row, autocommit (one WAL flush each).
pub async fn postgres(db_url: &str, sequential: usize, each: usize) -> anyhow::Result<CommitFloor> {
    let mut options = sea_orm::ConnectOptions::new(db_url.to_string());
    options
        .max_connections(16)
        .min_connections(16)
        .sqlx_logging(false);
    let db = Database::connect(options).await?;
    commit_floor(
        db,
        DbBackend::Postgres,
        "CREATE TABLE IF NOT EXISTS bench_floor (id bigserial primary key, payload text not null, created_at timestamptz not null default now())",
        "INSERT INTO bench_floor (payload) VALUES ($1)",
        sequential,
        each,
        16,
    )
    .await
}

/// SQLite with the settings of the embedded mode (WAL, synchronous=NORMAL).
pub async fn sqlite(
    path: &std::path::Path,
    sequential: usize,
    each: usize,
) -> anyhow::Result<CommitFloor> {
    let url = secrecy::SecretString::from(format!("sqlite://{}?mode=rwc", path.display()));
    let db = echoflow_service_kit::db::connect(&url, "floor", 8).await?;
    commit_floor(
        db,
        DbBackend::Sqlite,
        "CREATE TABLE IF NOT EXISTS bench_floor (id integer primary key autoincrement, payload text not null, created_at text not null default current_timestamp)",
        "INSERT INTO bench_floor (payload) VALUES ($1)",
        sequential,
        each,
        16,
    )
    .await
}
