//! Human-readable locations inside a definition (`nodes[2].data.config.url`).

/// Appends an object key: `base.key`, or `base["odd key"]` when the key would be ambiguous.
pub(crate) fn key(base: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| !matches!(c, '.' | '[' | ']' | '"' | ' '));
    match (base.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{base}.{key}"),
        (_, false) => format!("{base}[{}]", serde_json::Value::from(key)),
    }
}

/// Appends an array index: `base[i]`.
pub(crate) fn index(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}

/// Converts a JSON pointer relative to `value` into dotted/bracket form under `base`.
/// Numeric segments are indices only where the value at that point is an array.
pub(crate) fn from_pointer(base: &str, pointer: &str, value: &serde_json::Value) -> String {
    let mut out = base.to_owned();
    let mut current = Some(value);
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        match current {
            Some(serde_json::Value::Array(items)) => match segment.parse::<usize>() {
                Ok(i) => {
                    out = index(&out, i);
                    current = items.get(i);
                }
                Err(_) => {
                    out = key(&out, &segment);
                    current = None;
                }
            },
            Some(serde_json::Value::Object(map)) => {
                out = key(&out, &segment);
                current = map.get(&segment);
            }
            _ => {
                out = key(&out, &segment);
                current = None;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointer_becomes_dotted_path() {
        let v = json!({"headers": [{"a": 1}], "0": {"x": 1}});
        assert_eq!(from_pointer("cfg", "/headers/0/a", &v), "cfg.headers[0].a");
        assert_eq!(from_pointer("cfg", "/0/x", &v), "cfg.0.x");
        assert_eq!(from_pointer("cfg", "", &v), "cfg");
        assert_eq!(key("", "a b"), "[\"a b\"]");
        assert_eq!(key("h", "X-Api-Key"), "h.X-Api-Key");
    }
}
