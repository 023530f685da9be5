//! The graph parser and compiler: any JSON document as a flow definition parses and compiles
//! to a plan or to faults with paths, never a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(definition) = echoflow_domain::graph::parse_definition(&value) {
        let _ = echoflow_domain::graph::compile(&definition);
    }
});
