//! Run with: cargo test -p echoflow-bus --test rabbit
//! Needs RabbitMQ on 127.0.0.1:5672 (guest/guest) and `rabbitmqctl`; each test uses a fresh vhost.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use echoflow_bus::topology::{EXECUTOR_DEAD, EXECUTOR_JOBS, JOBS_EXCHANGE};
use echoflow_bus::{BusError, RabbitBus, SharedBus};
use lapin::options::BasicGetOptions;
use lapin::{Connection, ConnectionProperties};

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
