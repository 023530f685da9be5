//! Run with: cargo test -p echoflow-bus --test trace
//! W3C trace context travels from the publishing span to the consuming handler's span.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use echoflow_bus::topology::{EXECUTOR_JOBS, JOBS_EXCHANGE};
use echoflow_bus::{Delivery, HandleError, InProcessBus, MessageHandler, SharedBus};
use opentelemetry::trace::{TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

fn current_trace_id() -> TraceId {
    tracing::Span::current()
        .context()
        .span()
        .span_context()
        .trace_id()
}

#[derive(Default)]
struct TraceRecorder {
    seen: Mutex<Vec<(Delivery, TraceId)>>,
}

#[async_trait::async_trait]
impl MessageHandler for TraceRecorder {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandleError> {
        let trace_id = current_trace_id();
        self.seen.lock().unwrap().push((delivery, trace_id));
        Ok(())
    }
}

#[tokio::test]
async fn the_handler_continues_the_publishers_trace() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bus-test")));
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let bus: SharedBus = Arc::new(InProcessBus::new());
    let publisher_trace = async {
        bus.publish(JOBS_EXCHANGE, job("traced")).await.unwrap();
        current_trace_id()
    }
    .instrument(tracing::info_span!("request"))
    .await;
    assert_ne!(publisher_trace, TraceId::INVALID);

    let recorder = Arc::new(TraceRecorder::default());
    let shutdown = CancellationToken::new();
    let consumer = {
        let (bus, recorder, shutdown) = (bus.clone(), recorder.clone(), shutdown.clone());
        tokio::spawn(async move { bus.consume(EXECUTOR_JOBS, 1, recorder, shutdown).await })
    };
    eventually("the traced job", || {
        recorder.seen.lock().unwrap().len() == 1
    })
    .await;
    shutdown.cancel();
    consumer.await.unwrap().unwrap();

    let (delivery, handler_trace) = recorder.seen.lock().unwrap()[0].clone();
    let traceparent = &delivery.headers["traceparent"];
    assert!(
        traceparent.contains(&publisher_trace.to_string()),
        "{traceparent}"
    );
    assert_eq!(handler_trace, publisher_trace);
}
