//! Run with: cargo test -p echoflow-bus --test rabbit
//! Needs RabbitMQ on 127.0.0.1:5672 (guest/guest) and `rabbitmqctl`; each test uses a fresh vhost.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::consuming::*;
use common::subscribing::*;
use common::*;
use echoflow_bus::topology::{EXECUTOR_DEAD, EXECUTOR_JOBS, JOBS_EXCHANGE};
use echoflow_bus::{BusError, RabbitBus, SharedBus};
use lapin::options::BasicGetOptions;
use lapin::{Connection, ConnectionProperties};
use tokio_util::sync::CancellationToken;

async fn bus(vhost: &Vhost) -> SharedBus {
    Arc::new(RabbitBus::connect(&vhost.url()).await.unwrap())
}

#[tokio::test]
async fn round_trip_keeps_id_headers_and_body() {
    let vhost = Vhost::new();
    round_trip(bus(&vhost).await).await;
}

#[tokio::test]
async fn events_are_routed_by_topic() {
    let vhost = Vhost::new();
    topic_routing(bus(&vhost).await).await;
}

#[tokio::test]
async fn permanent_failure_lands_in_executor_dead() {
    let vhost = Vhost::new();
    permanent_failure_is_dead_lettered(bus(&vhost).await).await;
}

#[tokio::test]
async fn transient_failure_is_redelivered_then_acked() {
    let vhost = Vhost::new();
    transient_failure_is_redelivered(bus(&vhost).await).await;
}

#[tokio::test]
async fn prefetch_bounds_the_running_handlers() {
    let vhost = Vhost::new();
    prefetch_bounds_concurrency(bus(&vhost).await).await;
}

#[tokio::test]
async fn shutdown_waits_for_the_handler_in_flight() {
    let vhost = Vhost::new();
    shutdown_waits_for_in_flight_handlers(bus(&vhost).await).await;
}

#[tokio::test]
async fn endless_transient_failures_end_in_executor_dead() {
    let vhost = Vhost::new();
    delivery_limit_dead_letters(bus(&vhost).await).await;
}

#[tokio::test]
async fn two_subscribers_each_get_every_update_in_order() {
    let vhost = Vhost::new();
    every_subscriber_gets_every_message(bus(&vhost).await).await;
}

#[tokio::test]
async fn a_subscriber_gets_only_matching_routing_keys() {
    let vhost = Vhost::new();
    subscriber_gets_only_matching_keys(bus(&vhost).await).await;
}

#[tokio::test]
async fn nothing_is_delivered_after_a_subscription_ends() {
    let vhost = Vhost::new();
    nothing_is_delivered_after_shutdown(bus(&vhost).await).await;
}

#[tokio::test]
async fn an_unknown_exchange_cannot_be_subscribed_to() {
    let vhost = Vhost::new();
    subscribing_to_an_unknown_exchange_fails(bus(&vhost).await).await;
}

#[tokio::test]
async fn declaring_the_topology_twice_is_fine() {
    let vhost = Vhost::new();
    let first = bus(&vhost).await;
    let second = bus(&vhost).await;
    first.health().await.unwrap();
    second.health().await.unwrap();
    first
        .publish(JOBS_EXCHANGE, job("from-first"))
        .await
        .unwrap();
    second
        .publish(JOBS_EXCHANGE, job("from-second"))
        .await
        .unwrap();
}

/// Reads `executor.dead` with a plain lapin client, independent of the bus's consumer.
#[tokio::test]
async fn dead_letter_is_readable_with_basic_get() {
    let vhost = Vhost::new();
    let bus = bus(&vhost).await;
    let failing = Recorder::with(|_, _| {
        Err(echoflow_bus::HandleError::Permanent(
            "schema mismatch".into(),
        ))
    });
    let consumer = start(&bus, EXECUTOR_JOBS, 1, failing.clone());
    bus.publish(JOBS_EXCHANGE, job("dead-by-get"))
        .await
        .unwrap();
    eventually("the handler", || failing.count() == 1).await;

    let connection = Connection::connect(&vhost.url(), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let start = tokio::time::Instant::now();
    let message = loop {
        if let Some(message) = channel
            .basic_get(EXECUTOR_DEAD.into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            break message;
        }
        assert!(start.elapsed() < DEADLINE, "nothing in executor.dead");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let properties = &message.delivery.properties;
    assert_eq!(
        properties.message_id().as_ref().unwrap().as_str(),
        "dead-by-get"
    );
    assert_eq!(*properties.delivery_mode(), Some(2));
    let headers = properties.headers().as_ref().unwrap().inner();
    let reason = headers.get("x-echoflow-reason").unwrap();
    assert_eq!(
        reason,
        &lapin::types::AMQPValue::LongString("schema mismatch".into())
    );
    consumer.stop().await;
}

#[tokio::test]
async fn consume_resumes_after_the_connection_is_closed() {
    let vhost = Vhost::new();
    let bus = bus(&vhost).await;
    let recorder = Recorder::ok();
    let consumer = start(&bus, EXECUTOR_JOBS, 2, recorder.clone());
    bus.publish(JOBS_EXCHANGE, job("before-close"))
        .await
        .unwrap();
    eventually("the first job", || recorder.count() == 1).await;

    vhost.close_all_connections();

    // The publisher reconnects by itself; the first publish may race the close, so retry with a deadline.
    let start = tokio::time::Instant::now();
    while let Err(error) = bus.publish(JOBS_EXCHANGE, job("after-close")).await {
        assert!(
            start.elapsed() < DEADLINE,
            "publish never recovered: {error}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eventually("the job published after the close", || {
        recorder.ids().contains(&"after-close".to_owned())
    })
    .await;
    bus.health().await.unwrap();
    consumer.stop().await;
}

#[tokio::test]
async fn unknown_exchange_and_queue_are_errors() {
    let vhost = Vhost::new();
    let bus = bus(&vhost).await;
    let error = bus
        .publish("no.such.exchange", job("lost"))
        .await
        .unwrap_err();
    assert!(matches!(error, BusError::ExchangeNotFound(_)), "{error:?}");
    let error = tokio::time::timeout(
        DEADLINE,
        bus.consume("no.such.queue", 1, Recorder::ok(), Default::default()),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(matches!(error, BusError::QueueNotFound(_)), "{error:?}");
    // The bus still works afterwards.
    bus.publish(JOBS_EXCHANGE, job("still-fine")).await.unwrap();
}

#[tokio::test]
async fn connecting_to_a_closed_port_fails() {
    let error = RabbitBus::connect("amqp://guest:guest@127.0.0.1:1/%2f")
        .await
        .unwrap_err();
    assert!(matches!(error, BusError::Connect(_)), "{error:?}");
}

/// The vhost's queues as `(name, durable, auto_delete, exclusive)`, by `rabbitmqctl`.
fn queues(vhost: &Vhost) -> Vec<(String, bool, bool, bool)> {
    let output = std::process::Command::new("rabbitmqctl")
        .args(["--timeout", "30", "list_queues", "-p", &vhost.name])
        .args(["name", "durable", "auto_delete", "exclusive"])
        .args(["--no-table-headers", "--silent"])
        .output()
        .expect("rabbitmqctl runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            // Tab-separated; a quorum queue's `exclusive` is an empty field.
            let fields: Vec<&str> = line.split('\t').collect();
            let [name, durable, auto_delete, exclusive] = fields[..] else {
                return None;
            };
            Some((
                name.to_owned(),
                durable == "true",
                auto_delete == "true",
                exclusive == "true",
            ))
        })
        .collect()
}

fn live_queues(vhost: &Vhost) -> Vec<(String, bool, bool, bool)> {
    queues(vhost)
        .into_iter()
        .filter(|(name, ..)| name.starts_with("amq.gen-"))
        .collect()
}

#[tokio::test]
async fn a_subscription_queue_is_transient_and_disappears_when_it_stops() {
    let vhost = Vhost::new();
    let bus = bus(&vhost).await;
    let recorder = Recorder::ok();
    let live = subscribe(&bus, "#", recorder.clone(), CancellationToken::new()).await;

    let declared = live_queues(&vhost);
    assert_eq!(declared.len(), 1, "one server-named queue: {declared:?}");
    let (_, durable, auto_delete, exclusive) = declared[0].clone();
    assert!(!durable && auto_delete && exclusive, "{declared:?}");

    live.stop().await;
    let start = tokio::time::Instant::now();
    while !live_queues(&vhost).is_empty() {
        assert!(
            start.elapsed() < DEADLINE,
            "the queue outlived its subscriber"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The topology's own queues are untouched.
    let mut names: Vec<String> = queues(&vhost).into_iter().map(|q| q.0).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "executor.chatbot-events",
            "executor.dead",
            "executor.jobs",
            "registry.trigger-events"
        ]
    );
}

#[tokio::test]
async fn a_subscription_resubscribes_after_the_connection_is_closed() {
    let vhost = Vhost::new();
    let bus = bus(&vhost).await;
    let recorder = Recorder::ok();
    let live = subscribe(
        &bus,
        "execution.*",
        recorder.clone(),
        CancellationToken::new(),
    )
    .await;
    bus.publish(
        echoflow_bus::topology::UPDATES_EXCHANGE,
        update("before-close", "execution.started"),
    )
    .await
    .unwrap();
    eventually("the first update", || recorder.count() == 1).await;

    vhost.close_all_connections();

    // Updates published while it is away are lost to it (by design), so keep publishing until one arrives.
    let start = tokio::time::Instant::now();
    let mut n = 0;
    while !recorder
        .ids()
        .iter()
        .any(|id| id.starts_with("after-close"))
    {
        assert!(
            start.elapsed() < DEADLINE,
            "the subscription never came back"
        );
        let _ = bus
            .publish(
                echoflow_bus::topology::UPDATES_EXCHANGE,
                update(&format!("after-close-{n}"), "execution.finished"),
            )
            .await;
        n += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        live_queues(&vhost).len(),
        1,
        "the old queue went with the old connection"
    );
    live.stop().await;
}
