//! CloudEvent parsing (structured JSON, as published on echoflow.events or posted to
//! /api/v1/events): any bytes give an event or an error naming the attribute, never a crash;
//! an accepted event serialises back and parses to the same event.
#![no_main]

use echoflow_contracts::v1::TriggerEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = TriggerEvent::from_cloudevent_json(data) {
        let again = TriggerEvent::from_cloudevent_value(&event.to_cloudevent_value())
            .expect("an accepted event serialises to a valid CloudEvent");
        assert_eq!(again, event);
    }
});
