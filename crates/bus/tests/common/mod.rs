//! Shared test helpers: a fresh RabbitMQ vhost or database per test, a recording handler,
//! and bus scenarios run against both the RabbitMQ and the in-process bus.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use echoflow_bus::topology::{
    EVENTS_EXCHANGE, EXECUTOR_DEAD, EXECUTOR_JOBS, JOBS_EXCHANGE, REGISTRY_TRIGGER_EVENTS,
    UPDATES_EXCHANGE,
};
use echoflow_bus::{
    BusError, Delivery, HandleError, MessageHandler, OutgoingMessage, SharedBus, Subscription,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const DEADLINE: Duration = Duration::from_secs(20);

/// Polls `condition` every 20 ms until it holds; panics after `DEADLINE`.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !condition() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub mod db;

// ---------- RabbitMQ vhost per test ----------

fn rabbitmqctl(args: &[&str]) {
    let output = Command::new("rabbitmqctl")
        .args(["--timeout", "30"])
        .args(args)
        .output()
        .expect("rabbitmqctl runs");
    assert!(
        output.status.success(),
        "rabbitmqctl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A fresh vhost, deleted on drop.
pub struct Vhost {
    pub name: String,
}

impl Vhost {
    pub fn new() -> Self {
        let name = format!("bus_test_{}", uuid::Uuid::new_v4().simple());
        rabbitmqctl(&["add_vhost", &name]);
        rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
        Self { name }
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }

    /// Closes every client connection to this vhost, as a broker restart would.
    pub fn close_all_connections(&self) {
        rabbitmqctl(&[
            "close_all_connections",
            "--vhost",
            &self.name,
            "test closes the connection",
        ]);
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.name])
            .output();
    }
}

// ---------- a handler that records what it sees ----------

type Behaviour = dyn Fn(&Delivery, usize) -> Result<(), HandleError> + Send + Sync;

/// Records deliveries; `behaviour(delivery, attempt)` decides the outcome (attempt counts from 1 per message id).
pub struct Recorder {
    pub seen: Mutex<Vec<Delivery>>,
    behaviour: Box<Behaviour>,
    pause: Duration,
    running: AtomicUsize,
    pub max_running: AtomicUsize,
}

impl Recorder {
    pub fn ok() -> Arc<Self> {
        Self::with(|_, _| Ok(()))
    }

    pub fn with(
        behaviour: impl Fn(&Delivery, usize) -> Result<(), HandleError> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Self::build(behaviour, Duration::ZERO)
    }

    pub fn slow(pause: Duration) -> Arc<Self> {
        Self::build(|_, _| Ok(()), pause)
    }

    fn build(
        behaviour: impl Fn(&Delivery, usize) -> Result<(), HandleError> + Send + Sync + 'static,
        pause: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            seen: Mutex::new(Vec::new()),
            behaviour: Box::new(behaviour),
            pause,
            running: AtomicUsize::new(0),
            max_running: AtomicUsize::new(0),
        })
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.seen.lock().unwrap().clone()
    }

    pub fn ids(&self) -> Vec<String> {
        self.deliveries()
            .into_iter()
            .map(|d| d.message_id)
            .collect()
    }
}

#[async_trait::async_trait]
impl MessageHandler for Recorder {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandleError> {
        let running = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(running, Ordering::SeqCst);
        if !self.pause.is_zero() {
            tokio::time::sleep(self.pause).await;
        }
        let attempt = {
            let mut seen = self.seen.lock().unwrap();
            seen.push(delivery.clone());
            seen.iter()
                .filter(|d| d.message_id == delivery.message_id)
                .count()
        };
        self.running.fetch_sub(1, Ordering::SeqCst);
        (self.behaviour)(&delivery, attempt)
    }
}

/// A running `consume` and the token that stops it.
pub struct Running {
    pub shutdown: CancellationToken,
    task: JoinHandle<Result<(), echoflow_bus::BusError>>,
}

impl Running {
    /// Cancels the consumer and checks that it returns `Ok(())` in time.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("consume returns after shutdown")
            .expect("consume task did not panic");
        result.expect("consume returns Ok on shutdown");
    }
}

pub fn start(bus: &SharedBus, queue: &str, prefetch: u16, handler: Arc<Recorder>) -> Running {
    let shutdown = CancellationToken::new();
    let bus = bus.clone();
    let queue = queue.to_owned();
    let token = shutdown.clone();
    let task = tokio::spawn(async move { bus.consume(&queue, prefetch, handler, token).await });
    Running { shutdown, task }
}

pub fn job(id: &str) -> OutgoingMessage {
    OutgoingMessage::new(
        id,
        "execution",
        "application/json",
        format!("{{\"job\":\"{id}\"}}").into_bytes(),
    )
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

// ---------- scenarios for both buses ----------

/// Published before anyone consumes, received with id, headers, body and origin intact.
pub async fn round_trip(bus: SharedBus) {
    let id = unique("job");
    let message = job(&id).with_header("x-tenant", "acme");
    bus.publish(JOBS_EXCHANGE, message.clone()).await.unwrap();

    let recorder = Recorder::ok();
    let consumer = start(&bus, EXECUTOR_JOBS, 4, recorder.clone());
    eventually("the job", || recorder.count() == 1).await;
    consumer.stop().await;

    let delivery = &recorder.deliveries()[0];
    assert_eq!(delivery.message_id, id);
    assert_eq!(delivery.exchange, JOBS_EXCHANGE);
    assert_eq!(delivery.routing_key, "execution");
    assert_eq!(delivery.content_type, "application/json");
    assert_eq!(delivery.body, message.body);
    assert_eq!(
        delivery.headers.get("x-tenant").map(String::as_str),
        Some("acme")
    );
    assert!(!delivery.redelivered);
}

/// Every event type reaches `registry.trigger-events`; updates go nowhere (no queue bound) without error.
pub async fn topic_routing(bus: SharedBus) {
    let recorder = Recorder::ok();
    let consumer = start(&bus, REGISTRY_TRIGGER_EVENTS, 4, recorder.clone());
    let keys = [
        "message.received",
        "custom.shop.order.paid",
        "image.analyzed",
    ];
    for key in keys {
        let event = OutgoingMessage::new(
            unique(key),
            key,
            "application/cloudevents+json",
            b"{}".to_vec(),
        );
        bus.publish(EVENTS_EXCHANGE, event).await.unwrap();
    }
    bus.publish(
        UPDATES_EXCHANGE,
        OutgoingMessage::new(
            unique("update"),
            "execution.started",
            "application/json",
            Vec::new(),
        ),
    )
    .await
    .unwrap();
    eventually("three events", || recorder.count() == 3).await;
    consumer.stop().await;
    let mut routing_keys: Vec<String> = recorder
        .deliveries()
        .into_iter()
        .map(|d| d.routing_key)
        .collect();
    routing_keys.sort();
    assert_eq!(
        routing_keys,
        [
            "custom.shop.order.paid",
            "image.analyzed",
            "message.received"
        ]
    );
    assert!(
        recorder
            .deliveries()
            .iter()
            .all(|d| d.exchange == EVENTS_EXCHANGE)
    );
}

/// A permanent failure lands in `executor.dead` once, with its reason and origin, and is not redelivered.
pub async fn permanent_failure_is_dead_lettered(bus: SharedBus) {
    let id = unique("poison");
    let failing = Recorder::with(|_, _| Err(HandleError::Permanent("bad payload".into())));
    let dead = Recorder::ok();
    let jobs = start(&bus, EXECUTOR_JOBS, 2, failing.clone());
    let dead_letters = start(&bus, EXECUTOR_DEAD, 2, dead.clone());
    bus.publish(JOBS_EXCHANGE, job(&id).with_header("x-tenant", "acme"))
        .await
        .unwrap();

    eventually("the dead letter", || dead.count() == 1).await;
    let letter = &dead.deliveries()[0];
    assert_eq!(letter.message_id, id);
    assert_eq!(letter.routing_key, EXECUTOR_JOBS);
    assert_eq!(letter.body, job(&id).body);
    assert_eq!(letter.content_type, "application/json");
    let header = |name: &str| letter.headers.get(name).map(String::as_str);
    assert_eq!(header("x-echoflow-reason"), Some("bad payload"));
    assert_eq!(header("x-original-exchange"), Some(JOBS_EXCHANGE));
    assert_eq!(header("x-original-routing-key"), Some("execution"));
    assert_eq!(header("x-original-queue"), Some(EXECUTOR_JOBS));
    assert_eq!(header("x-tenant"), Some("acme"));

    // The original was acked: no redelivery to the failing handler.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(failing.count(), 1);
    assert_eq!(dead.count(), 1);
    jobs.stop().await;
    dead_letters.stop().await;
}

/// A transient failure is redelivered (flagged so) and then acked for good.
pub async fn transient_failure_is_redelivered(bus: SharedBus) {
    let id = unique("flaky");
    let recorder = Recorder::with(|_, attempt| {
        if attempt == 1 {
            Err(HandleError::Transient(anyhow::anyhow!("database busy")))
        } else {
            Ok(())
        }
    });
    let consumer = start(&bus, EXECUTOR_JOBS, 2, recorder.clone());
    bus.publish(JOBS_EXCHANGE, job(&id)).await.unwrap();
    eventually("the redelivery", || recorder.count() == 2).await;
    let deliveries = recorder.deliveries();
    assert!(!deliveries[0].redelivered);
    assert!(deliveries[1].redelivered);
    assert!(deliveries.iter().all(|d| d.message_id == id));

    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(recorder.count(), 2, "acked after the second attempt");
    consumer.stop().await;
}

/// No more than `prefetch` handlers run at once, and more than one does.
pub async fn prefetch_bounds_concurrency(bus: SharedBus) {
    let recorder = Recorder::slow(Duration::from_millis(150));
    let consumer = start(&bus, EXECUTOR_JOBS, 3, recorder.clone());
    for n in 0..12 {
        bus.publish(JOBS_EXCHANGE, job(&format!("{}-{n}", unique("batch"))))
            .await
            .unwrap();
    }
    eventually("all twelve jobs", || recorder.count() == 12).await;
    consumer.stop().await;
    let max = recorder.max_running.load(Ordering::SeqCst);
    assert!(max <= 3, "{max} handlers ran at once");
    assert!(max >= 2, "handlers never overlapped");
}

/// Shutdown waits for the handler in flight, and that handler's message is settled.
pub async fn shutdown_waits_for_in_flight_handlers(bus: SharedBus) {
    let recorder = Recorder::slow(Duration::from_millis(600));
    let consumer = start(&bus, EXECUTOR_JOBS, 1, recorder.clone());
    bus.publish(JOBS_EXCHANGE, job(&unique("slow")))
        .await
        .unwrap();
    eventually("the handler to start", || {
        recorder.max_running.load(Ordering::SeqCst) == 1
    })
    .await;
    consumer.stop().await;
    assert_eq!(
        recorder.count(),
        1,
        "the in-flight handler finished before consume returned"
    );
}

/// A message that keeps failing transiently ends in `executor.dead` by the delivery limit.
pub async fn delivery_limit_dead_letters(bus: SharedBus) {
    let id = unique("hopeless");
    let failing = Recorder::with(|_, _| Err(HandleError::Transient(anyhow::anyhow!("still down"))));
    let dead = Recorder::ok();
    let jobs = start(&bus, EXECUTOR_JOBS, 1, failing.clone());
    let dead_letters = start(&bus, EXECUTOR_DEAD, 1, dead.clone());
    bus.publish(JOBS_EXCHANGE, job(&id)).await.unwrap();
    let start_time = tokio::time::Instant::now();
    while dead.count() == 0 {
        assert!(
            start_time.elapsed() < Duration::from_secs(40),
            "no dead letter after the delivery limit"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead.deliveries()[0].message_id, id);
    assert!(failing.count() > 10, "tried {} times only", failing.count());
    jobs.stop().await;
    dead_letters.stop().await;
}

// ---------- live subscriptions, for both buses ----------

/// An ExecutionUpdate-like message on `echoflow.updates`; the body names its id.
pub fn update(id: &str, routing_key: &str) -> OutgoingMessage {
    OutgoingMessage::new(
        id,
        routing_key,
        "application/json",
        format!("{{\"update\":\"{id}\"}}").into_bytes(),
    )
}

pub async fn subscribe(
    bus: &SharedBus,
    binding_key: &str,
    handler: Arc<Recorder>,
    shutdown: CancellationToken,
) -> Subscription {
    tokio::time::timeout(
        DEADLINE,
        bus.subscribe(UPDATES_EXCHANGE, binding_key, handler, shutdown),
    )
    .await
    .expect("subscribe answers in time")
    .expect("subscribe succeeds")
}

/// Two subscribers on the same binding each get every message, in publishing order.
pub async fn every_subscriber_gets_every_message(bus: SharedBus) {
    let (first, second) = (Recorder::ok(), Recorder::ok());
    let one = subscribe(&bus, "#", first.clone(), CancellationToken::new()).await;
    let two = subscribe(&bus, "#", second.clone(), CancellationToken::new()).await;
    let ids: Vec<String> = (0..10)
        .map(|n| format!("{}-{n:02}", unique("live")))
        .collect();
    for id in &ids {
        bus.publish(UPDATES_EXCHANGE, update(id, "execution.step_finished"))
            .await
            .unwrap();
    }
    eventually("both subscribers to get all ten", || {
        first.count() == 10 && second.count() == 10
    })
    .await;
    assert_eq!(first.ids(), ids);
    assert_eq!(second.ids(), ids);
    let delivery = &first.deliveries()[0];
    assert_eq!(delivery.exchange, UPDATES_EXCHANGE);
    assert_eq!(delivery.routing_key, "execution.step_finished");
    assert_eq!(delivery.body, update(&ids[0], "x").body);
    one.stop().await;
    two.stop().await;
}

/// A subscriber sees only routing keys its binding matches, and only from its exchange.
pub async fn subscriber_gets_only_matching_keys(bus: SharedBus) {
    let (finished, all_execution) = (Recorder::ok(), Recorder::ok());
    let one = subscribe(
        &bus,
        "execution.finished",
        finished.clone(),
        CancellationToken::new(),
    )
    .await;
    let two = subscribe(
        &bus,
        "execution.*",
        all_execution.clone(),
        CancellationToken::new(),
    )
    .await;
    for key in [
        "execution.started",
        "execution.step_finished",
        "other.finished",
        "execution.finished",
        "execution.finished.late",
    ] {
        bus.publish(UPDATES_EXCHANGE, update(&unique(key), key))
            .await
            .unwrap();
    }
    // Same key, another exchange: not for an `echoflow.updates` subscriber.
    bus.publish(
        EVENTS_EXCHANGE,
        update(&unique("event"), "execution.finished"),
    )
    .await
    .unwrap();
    // A marker both bindings match, published last: once it arrived, everything before it did.
    let marker = unique("marker");
    bus.publish(UPDATES_EXCHANGE, update(&marker, "execution.finished"))
        .await
        .unwrap();
    eventually("the marker at both subscribers", || {
        finished.ids().contains(&marker) && all_execution.ids().contains(&marker)
    })
    .await;
    let keys = |recorder: &Recorder| -> Vec<String> {
        recorder
            .deliveries()
            .into_iter()
            .map(|d| d.routing_key)
            .collect()
    };
    assert_eq!(
        keys(&finished),
        ["execution.finished", "execution.finished"]
    );
    assert_eq!(
        keys(&all_execution),
        [
            "execution.started",
            "execution.step_finished",
            "execution.finished",
            "execution.finished"
        ]
    );
    assert!(
        finished
            .deliveries()
            .iter()
            .chain(all_execution.deliveries().iter())
            .all(|d| d.exchange == UPDATES_EXCHANGE)
    );
    one.stop().await;
    two.stop().await;
}

/// Once the caller's token is cancelled (or the subscription stopped, or dropped), nothing more arrives.
pub async fn nothing_is_delivered_after_shutdown(bus: SharedBus) {
    let by_token = Recorder::ok();
    let by_stop = Recorder::ok();
    let by_drop = Recorder::ok();
    let shutdown = CancellationToken::new();
    let token_ended = subscribe(&bus, "#", by_token.clone(), shutdown.clone()).await;
    let stop_ended = subscribe(&bus, "#", by_stop.clone(), CancellationToken::new()).await;
    let drop_ended = subscribe(&bus, "#", by_drop.clone(), CancellationToken::new()).await;
    let first = unique("before");
    bus.publish(UPDATES_EXCHANGE, update(&first, "execution.started"))
        .await
        .unwrap();
    eventually("the first update at all three", || {
        by_token.count() == 1 && by_stop.count() == 1 && by_drop.count() == 1
    })
    .await;

    shutdown.cancel();
    tokio::time::timeout(DEADLINE, token_ended.stopped())
        .await
        .expect("the subscription ends when its token is cancelled");
    tokio::time::timeout(DEADLINE, stop_ended.stop())
        .await
        .expect("stop returns");
    drop(drop_ended);

    // A fresh subscriber proves the later updates were published and routed.
    let witness = Recorder::ok();
    let still_running = subscribe(&bus, "#", witness.clone(), CancellationToken::new()).await;
    for n in 0..5 {
        bus.publish(
            UPDATES_EXCHANGE,
            update(&unique(&format!("after-{n}")), "execution.finished"),
        )
        .await
        .unwrap();
    }
    eventually("the witness to get the later updates", || {
        witness.count() == 5
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for recorder in [&by_token, &by_stop, &by_drop] {
        assert_eq!(recorder.ids(), std::slice::from_ref(&first));
    }
    still_running.stop().await;
}

/// Subscribing to an exchange the topology does not have is an error, not a silent nothing.
pub async fn subscribing_to_an_unknown_exchange_fails(bus: SharedBus) {
    let result = tokio::time::timeout(
        DEADLINE,
        bus.subscribe(
            "no.such.exchange",
            "#",
            Recorder::ok(),
            CancellationToken::new(),
        ),
    )
    .await
    .expect("subscribe answers in time");
    match result {
        Err(BusError::ExchangeNotFound(name)) => assert_eq!(name, "no.such.exchange"),
        Err(other) => panic!("expected ExchangeNotFound, got {other:?}"),
        Ok(_) => panic!("subscribed to an exchange that does not exist"),
    }
    // The bus still works afterwards.
    let recorder = Recorder::ok();
    let live = subscribe(&bus, "#", recorder.clone(), CancellationToken::new()).await;
    bus.publish(UPDATES_EXCHANGE, update(&unique("ok"), "execution.started"))
        .await
        .unwrap();
    eventually("the update", || recorder.count() == 1).await;
    live.stop().await;
}

pub fn headers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}
