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

pub mod consuming;
pub mod db;
pub mod subscribing;

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

pub fn headers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}
