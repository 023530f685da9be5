//! Live-subscription scenarios run against both buses.
#![allow(dead_code, clippy::unwrap_used)]

use super::*;

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
