//! The expression sandbox: any text as a template, an expression and a condition compiles,
//! checks and renders to a value or an error, never a crash, an abort or a runaway.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let ctx = json!({
        "trigger": {"type": "webhook.received", "data": {"body": {"email": "a@b.c", "total": 250, "items": [1, 2, 3], "tags": ["x", "y"], "nested": {"a": {"b": [{"c": "d"}]}}}}},
        "steps": {"lookup": {"output": {"status": 200, "body": {"ok": true, "name": "Ada"}}}}
    });
    let _ = echoflow_domain::expr::check_templates(&json!(source), "c");
    let _ = echoflow_domain::expr::render_value(&json!({"v": source, "w": format!("{{{{ {source} }}}}")}), &ctx);
    let _ = echoflow_domain::expr::eval_condition(source, &ctx);
});
