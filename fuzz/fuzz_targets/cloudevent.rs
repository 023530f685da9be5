//! What arrives from the bus or from POST /api/v1/events: CloudEvents in structured JSON
//! mode, and the protobuf ExecutionJob and ExecutionUpdate messages. Any bytes give a value
//! or an error (naming the attribute, for a CloudEvent), never a crash; an accepted event
//! serialises back to a CloudEvent that parses to the same event.
#![no_main]

use echoflow_contracts::v1::TriggerEvent;
use echoflow_contracts::{ExecutionJob, ExecutionUpdate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = TriggerEvent::from_cloudevent_json(data) {
        let again = TriggerEvent::from_cloudevent_value(&event.to_cloudevent_value())
            .expect("an accepted event serialises to a valid CloudEvent");
        assert_eq!(again, event);
    }
    let _ = ExecutionJob::decode_bytes(data);
    let _ = ExecutionUpdate::decode_bytes(data);
});
