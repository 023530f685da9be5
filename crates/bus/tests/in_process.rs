//! Run with: cargo test -p echoflow-bus --test in_process
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::consuming::*;
use common::subscribing::*;
use common::*;
use echoflow_bus::topology::{EXECUTOR_DEAD, EXECUTOR_JOBS, JOBS_EXCHANGE, UPDATES_EXCHANGE};
use echoflow_bus::{BusError, InProcessBus, OutgoingMessage, SharedBus};

fn bus() -> SharedBus {
    Arc::new(InProcessBus::new())
}

#[tokio::test]
async fn round_trip_keeps_id_headers_and_body() {
    round_trip(bus()).await;
}

#[tokio::test]
async fn events_are_routed_by_topic() {
    topic_routing(bus()).await;
}

#[tokio::test]
async fn permanent_failure_lands_in_executor_dead() {
    permanent_failure_is_dead_lettered(bus()).await;
}

#[tokio::test]
async fn transient_failure_is_redelivered_then_acked() {
    transient_failure_is_redelivered(bus()).await;
}

#[tokio::test]
async fn prefetch_bounds_the_running_handlers() {
    prefetch_bounds_concurrency(bus()).await;
}

#[tokio::test]
async fn shutdown_waits_for_the_handler_in_flight() {
    shutdown_waits_for_in_flight_handlers(bus()).await;
}

#[tokio::test]
async fn endless_transient_failures_end_in_executor_dead() {
    delivery_limit_dead_letters(bus()).await;
}

#[tokio::test]
async fn two_subscribers_each_get_every_update_in_order() {
    every_subscriber_gets_every_message(bus()).await;
}

#[tokio::test]
async fn a_subscriber_gets_only_matching_routing_keys() {
    subscriber_gets_only_matching_keys(bus()).await;
}

#[tokio::test]
async fn nothing_is_delivered_after_a_subscription_ends() {
    nothing_is_delivered_after_shutdown(bus()).await;
}

#[tokio::test]
async fn an_unknown_exchange_cannot_be_subscribed_to() {
    subscribing_to_an_unknown_exchange_fails(bus()).await;
}

#[tokio::test]
async fn fifo_order_with_a_single_handler() {
    let bus = bus();
    let ids: Vec<String> = (0..20).map(|n| format!("ordered-{n:02}")).collect();
    for id in &ids {
        bus.publish(JOBS_EXCHANGE, job(id)).await.unwrap();
    }
    let recorder = Recorder::ok();
    let consumer = start(&bus, EXECUTOR_JOBS, 1, recorder.clone());
    eventually("twenty jobs", || recorder.count() == 20).await;
    consumer.stop().await;
    assert_eq!(recorder.ids(), ids);
}

#[tokio::test]
async fn unroutable_messages_are_dropped_and_unknown_names_rejected() {
    let bus = bus();
    bus.publish(
        UPDATES_EXCHANGE,
        OutgoingMessage::new("u1", "execution.finished", "application/json", Vec::new()),
    )
    .await
    .unwrap();
    let error = bus
        .publish("no.such.exchange", job("j1"))
        .await
        .unwrap_err();
    assert!(matches!(error, BusError::ExchangeNotFound(_)), "{error:?}");

    let error = bus
        .consume("no.such.queue", 1, Recorder::ok(), Default::default())
        .await
        .unwrap_err();
    assert!(matches!(error, BusError::QueueNotFound(_)), "{error:?}");
    bus.health().await.unwrap();

    // Nothing was routed to the dead-letter queue by the update.
    let dead = Recorder::ok();
    let consumer = start(&bus, EXECUTOR_DEAD, 1, dead.clone());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    consumer.stop().await;
    assert_eq!(dead.count(), 0);
}

#[tokio::test]
async fn a_panicking_handler_dead_letters_its_message() {
    let bus = bus();
    let panicking = Recorder::with(|_, _| panic!("boom"));
    let dead = Recorder::ok();
    let jobs = start(&bus, EXECUTOR_JOBS, 1, panicking);
    let dead_letters = start(&bus, EXECUTOR_DEAD, 1, dead.clone());
    bus.publish(JOBS_EXCHANGE, job("panics")).await.unwrap();
    eventually("the dead letter", || dead.count() == 1).await;
    let reason = dead.deliveries()[0].headers["x-echoflow-reason"].clone();
    assert!(reason.contains("boom"), "{reason}");
    jobs.stop().await;
    dead_letters.stop().await;
}
