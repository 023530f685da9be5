//! Consuming scenarios run against both buses: round trips, routing, dead letters,
//! redelivery, prefetch and shutdown.
#![allow(dead_code, clippy::unwrap_used)]

use super::*;

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
