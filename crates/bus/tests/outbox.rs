//! Run with: cargo test -p echoflow-bus --test outbox
//! Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and RabbitMQ on 127.0.0.1:5672.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::db::TestDb;
use common::*;
use echoflow_bus::outbox::{self, OutboxRelay};
use echoflow_bus::topology::{EXECUTOR_JOBS, JOBS_EXCHANGE};
use echoflow_bus::{
    Bus, BusError, InProcessBus, MessageHandler, OutgoingMessage, RabbitBus, SharedBus, dedupe,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};
use tokio_util::sync::CancellationToken;

async fn create_tables(db: &DatabaseConnection) {
    // Twice: the statements are `IF NOT EXISTS`.
    for _ in 0..2 {
        db.execute(&outbox::create_table_statement()).await.unwrap();
        db.execute(&dedupe::create_table_statement()).await.unwrap();
    }
}

async fn outbox_rows(db: &DatabaseConnection) -> i64 {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM outbox",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

async fn poll_rows(db: &DatabaseConnection, expected: i64) {
    let start = tokio::time::Instant::now();
    loop {
        let rows = outbox_rows(db).await;
        if rows == expected {
            return;
        }
        assert!(start.elapsed() < DEADLINE, "outbox still has {rows} rows");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Committed rows reach the bus and leave the table; rolled-back rows never exist.
async fn committed_rows_are_relayed(db: DatabaseConnection, bus: SharedBus) {
    create_tables(&db).await;
    let committed = [unique("committed"), unique("committed")];
    let rolled_back = unique("rolled-back");

    let txn = db.begin().await.unwrap();
    for id in &committed {
        outbox::enqueue(
            &txn,
            JOBS_EXCHANGE,
            &job(id).with_header("x-tenant", "acme"),
        )
        .await
        .unwrap();
    }
    txn.commit().await.unwrap();
    let txn = db.begin().await.unwrap();
    outbox::enqueue(&txn, JOBS_EXCHANGE, &job(&rolled_back))
        .await
        .unwrap();
    txn.rollback().await.unwrap();

    let recorder = Recorder::ok();
    let consumer = start(&bus, EXECUTOR_JOBS, 4, recorder.clone());
    let shutdown = CancellationToken::new();
    let relay = OutboxRelay::spawn(db.clone(), bus.clone(), shutdown.clone());
    relay.notify();

    eventually("both committed messages", || recorder.count() == 2).await;
    poll_rows(&db, 0).await;
    let mut ids = recorder.ids();
    ids.sort();
    let mut expected = committed.to_vec();
    expected.sort();
    assert_eq!(ids, expected);
    assert!(
        recorder
            .deliveries()
            .iter()
            .all(|d| d.headers["x-tenant"] == "acme")
    );

    // A row written while the relay idles is picked up after notify().
    let late = unique("late");
    let txn = db.begin().await.unwrap();
    outbox::enqueue(&txn, JOBS_EXCHANGE, &job(&late))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    relay.notify();
    eventually("the late message", || recorder.count() == 3).await;
    poll_rows(&db, 0).await;

    assert!(!recorder.ids().contains(&rolled_back));
    shutdown.cancel();
    tokio::time::timeout(DEADLINE, relay.stopped())
        .await
        .unwrap();
    consumer.stop().await;
}

#[tokio::test]
async fn sqlite_outbox_relays_committed_rows_only() {
    let (_guard, db) = TestDb::sqlite().await;
    committed_rows_are_relayed(db, Arc::new(InProcessBus::new())).await;
}

#[tokio::test]
async fn postgres_outbox_relays_committed_rows_only_through_rabbitmq() {
    let vhost = Vhost::new();
    let (_guard, db) = TestDb::postgres().await;
    let bus: SharedBus = Arc::new(RabbitBus::connect(&vhost.url()).await.unwrap());
    committed_rows_are_relayed(db, bus).await;
}

/// Fails the first `failures` publishes, then delegates.
struct FlakyBus {
    failures: AtomicUsize,
    inner: InProcessBus,
}

#[async_trait::async_trait]
impl Bus for FlakyBus {
    async fn publish(&self, exchange: &str, message: OutgoingMessage) -> Result<(), BusError> {
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0
            && self
                .failures
                .compare_exchange(left, left - 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            return Err(BusError::NotConfirmed {
                exchange: exchange.to_owned(),
                message_id: message.message_id,
            });
        }
        self.inner.publish(exchange, message).await
    }

    async fn consume(
        &self,
        queue: &str,
        prefetch: u16,
        handler: Arc<dyn MessageHandler>,
        shutdown: CancellationToken,
    ) -> Result<(), BusError> {
        self.inner.consume(queue, prefetch, handler, shutdown).await
    }

    async fn subscribe(
        &self,
        exchange: &str,
        binding_key: &str,
        handler: Arc<dyn MessageHandler>,
        shutdown: CancellationToken,
    ) -> Result<echoflow_bus::Subscription, BusError> {
        self.inner
            .subscribe(exchange, binding_key, handler, shutdown)
            .await
    }

    async fn health(&self) -> Result<(), BusError> {
        Ok(())
    }
}

#[tokio::test]
async fn rows_survive_bus_errors_and_are_relayed_later() {
    let (_guard, db) = TestDb::sqlite().await;
    create_tables(&db).await;
    let bus: SharedBus = Arc::new(FlakyBus {
        failures: AtomicUsize::new(5),
        inner: InProcessBus::new(),
    });
    let prefix = unique("kept");
    let ids: Vec<String> = (0..4).map(|n| format!("{prefix}-{n}")).collect();
    for id in &ids {
        outbox::enqueue(&db, JOBS_EXCHANGE, &job(id)).await.unwrap();
    }
    let recorder = Recorder::ok();
    let consumer = start(&bus, EXECUTOR_JOBS, 4, recorder.clone());
    let shutdown = CancellationToken::new();
    let relay = OutboxRelay::spawn(db.clone(), bus.clone(), shutdown.clone());
    eventually("all four messages", || recorder.count() == 4).await;
    poll_rows(&db, 0).await;
    let mut seen = recorder.ids();
    seen.sort();
    assert_eq!(seen, ids);
    shutdown.cancel();
    tokio::time::timeout(DEADLINE, relay.stopped())
        .await
        .unwrap();
    consumer.stop().await;
}

#[tokio::test]
async fn two_postgres_relays_publish_each_row_once() {
    let (_guard, db) = TestDb::postgres().await;
    create_tables(&db).await;
    let bus: SharedBus = Arc::new(InProcessBus::new());
    let ids: Vec<String> = (0..300).map(|n| format!("replica-{n:03}")).collect();
    let txn = db.begin().await.unwrap();
    for id in &ids {
        outbox::enqueue(&txn, JOBS_EXCHANGE, &job(id))
            .await
            .unwrap();
    }
    txn.commit().await.unwrap();

    let recorder = Recorder::ok();
    let consumer = start(&bus, EXECUTOR_JOBS, 16, recorder.clone());
    let shutdown = CancellationToken::new();
    let relays = [
        OutboxRelay::spawn(db.clone(), bus.clone(), shutdown.clone()),
        OutboxRelay::spawn(db.clone(), bus.clone(), shutdown.clone()),
    ];
    eventually("all 300 messages", || recorder.count() >= 300).await;
    poll_rows(&db, 0).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut seen = recorder.ids();
    seen.sort();
    assert_eq!(seen, ids, "every row published exactly once");
    shutdown.cancel();
    for relay in &relays {
        tokio::time::timeout(DEADLINE, relay.stopped())
            .await
            .unwrap();
    }
    consumer.stop().await;
}

async fn dedupe_first_and_second_delivery(db: DatabaseConnection) {
    create_tables(&db).await;
    assert!(
        dedupe::first_delivery(&db, "executor", "m-1")
            .await
            .unwrap()
    );
    assert!(
        !dedupe::first_delivery(&db, "executor", "m-1")
            .await
            .unwrap()
    );
    assert!(
        dedupe::first_delivery(&db, "registry", "m-1")
            .await
            .unwrap()
    );

    // Recorded inside a transaction: a rollback forgets it.
    let txn = db.begin().await.unwrap();
    assert!(
        dedupe::first_delivery(&txn, "executor", "m-2")
            .await
            .unwrap()
    );
    txn.rollback().await.unwrap();
    let txn = db.begin().await.unwrap();
    assert!(
        dedupe::first_delivery(&txn, "executor", "m-2")
            .await
            .unwrap()
    );
    txn.commit().await.unwrap();
    assert!(
        !dedupe::first_delivery(&db, "executor", "m-2")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn sqlite_dedupe_first_and_second_delivery() {
    let (_guard, db) = TestDb::sqlite().await;
    dedupe_first_and_second_delivery(db).await;
}

#[tokio::test]
async fn postgres_dedupe_first_and_second_delivery() {
    let (_guard, db) = TestDb::postgres().await;
    dedupe_first_and_second_delivery(db).await;
}

#[tokio::test]
async fn outbox_ids_autoincrement_on_both_databases() {
    for (guard, db) in [TestDb::sqlite().await, TestDb::postgres().await] {
        create_tables(&db).await;
        outbox::enqueue(&db, JOBS_EXCHANGE, &job("a"))
            .await
            .unwrap();
        outbox::enqueue(&db, JOBS_EXCHANGE, &job("b"))
            .await
            .unwrap();
        let backend = db.get_database_backend();
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT id FROM outbox ORDER BY id",
            ))
            .await
            .unwrap();
        let ids: Vec<i64> = rows.iter().map(|r| r.try_get("", "id").unwrap()).collect();
        assert_eq!(ids, [1, 2]);
        db.close().await.unwrap();
        drop(guard);
    }
}
