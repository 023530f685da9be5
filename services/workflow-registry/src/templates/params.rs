//! A template's typed parameters and the values a caller gives them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The longest string a parameter takes.
const MAX_STRING_CHARS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    String,
    Number,
    Integer,
    Boolean,
    /// An absolute http:// or https:// URL.
    Url,
    Email,
}

/// One parameter a template declares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub param_type: ParamType,
    pub required: bool,
    /// The value of an optional parameter the caller leaves out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    pub description: String,
    /// Number and integer parameters: the smallest value allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    /// Number and integer parameters: the largest value allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// String parameters: the only values allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
}

/// Why one parameter was refused; `path` is `params.<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParamFault {
    pub path: String,
    pub message: String,
}

impl ParamFault {
    fn new(name: &str, message: impl Into<String>) -> Self {
        Self {
            path: format!("params.{name}"),
            message: message.into(),
        }
    }
}

/// A value for every declared parameter, each of its declared type.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamValues(BTreeMap<String, Value>);

impl ParamValues {
    /// Checks `given` against `specs`: every required parameter present,
    /// every value of its type, no unknown names; optional ones left out
    /// (or null) take their default. Faults in declaration order, unknown
    /// names last.
    pub fn parse(specs: &[ParamSpec], given: &Map<String, Value>) -> Result<Self, Vec<ParamFault>> {
        let mut values = BTreeMap::new();
        let mut faults = Vec::new();
        for spec in specs {
            let value = match given.get(&spec.name).filter(|v| !v.is_null()) {
                Some(value) => check_value(spec, value),
                None if spec.required => Err("is required".to_string()),
                None => spec
                    .default
                    .clone()
                    .ok_or_else(|| "is required (it has no default)".to_string()),
            };
            match value {
                Ok(value) => {
                    values.insert(spec.name.clone(), value);
                }
                Err(message) => faults.push(ParamFault::new(&spec.name, message)),
            }
        }
        let mut unknown: Vec<&String> = given
            .keys()
            .filter(|name| !specs.iter().any(|s| &s.name == *name))
            .collect();
        unknown.sort();
        faults.extend(
            unknown
                .into_iter()
                .map(|name| ParamFault::new(name, format!("unknown parameter '{name}'"))),
        );
        if faults.is_empty() {
            Ok(Self(values))
        } else {
            Err(faults)
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }
}

/// The value as the parameter takes it (an integer written `3.0` becomes
/// `3`), or why it is refused.
pub fn check_value(spec: &ParamSpec, value: &Value) -> Result<Value, String> {
    match spec.param_type {
        ParamType::String => {
            let s = value.as_str().ok_or("must be a string")?;
            if s.chars().count() > MAX_STRING_CHARS {
                return Err(format!("must be at most {MAX_STRING_CHARS} characters"));
            }
            if spec.required && s.trim().is_empty() {
                return Err("must not be empty".into());
            }
            if let Some(options) = &spec.options
                && !options.iter().any(|o| o == s)
            {
                return Err(format!("must be one of: {}", options.join(", ")));
            }
            Ok(value.clone())
        }
        ParamType::Number => {
            let n = value
                .as_f64()
                .filter(|n| n.is_finite())
                .ok_or("must be a number")?;
            check_range(spec, n)?;
            Ok(value.clone())
        }
        ParamType::Integer => {
            let n = as_integer(value).ok_or("must be an integer")?;
            // i64 to f64 may round beyond 2^53; the bounds are small numbers.
            check_range(spec, n as f64)?;
            Ok(Value::from(n))
        }
        ParamType::Boolean => value
            .as_bool()
            .map(Value::Bool)
            .ok_or_else(|| "must be true or false".into()),
        ParamType::Url => {
            let s = value.as_str().ok_or("must be a string (a URL)")?;
            if is_http_url(s) {
                Ok(value.clone())
            } else {
                Err("must be an absolute http:// or https:// URL".into())
            }
        }
        ParamType::Email => {
            let s = value
                .as_str()
                .ok_or("must be a string (an email address)")?;
            if is_plausible_email(s) {
                Ok(value.clone())
            } else {
                Err("must be an email address".into())
            }
        }
    }
}

fn as_integer(value: &Value) -> Option<i64> {
    if let Some(n) = value.as_i64() {
        return Some(n);
    }
    let f = value.as_f64()?;
    // Within i64 and without a fraction: the cast is exact.
    let n = f as i64;
    (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(n)
}

fn check_range(spec: &ParamSpec, n: f64) -> Result<(), String> {
    if let Some(min) = spec.minimum
        && n < min
    {
        return Err(format!("must be at least {min}"));
    }
    if let Some(max) = spec.maximum
        && n > max
    {
        return Err(format!("must be at most {max}"));
    }
    Ok(())
}

/// An absolute http(s) URL with a host and no whitespace.
pub fn is_http_url(s: &str) -> bool {
    if s.len() > 2048 || s.chars().any(char::is_whitespace) {
        return false;
    }
    url::Url::parse(s).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
    })
}

/// `local@domain.tld`: one `@`, a dotted domain, no spaces or control characters.
pub fn is_plausible_email(s: &str) -> bool {
    if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && domain
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(
        name: &str,
        param_type: ParamType,
        required: bool,
        default: Option<Value>,
    ) -> ParamSpec {
        ParamSpec {
            name: name.into(),
            param_type,
            required,
            default,
            description: String::new(),
            minimum: None,
            maximum: None,
            options: None,
        }
    }

    fn one(param_type: ParamType, value: Value) -> Result<Value, String> {
        check_value(&spec("p", param_type, true, None), &value)
    }

    #[test]
    fn values_are_checked_by_type() {
        use ParamType::*;
        assert_eq!(one(String, json!("x")), Ok(json!("x")));
        assert!(one(String, json!(1)).is_err());
        assert!(
            one(String, json!("  ")).is_err(),
            "required strings are not blank"
        );
        assert_eq!(one(Number, json!(-0.5)), Ok(json!(-0.5)));
        assert_eq!(one(Number, json!(3)), Ok(json!(3)));
        assert!(one(Number, json!("3")).is_err());
        assert_eq!(one(Integer, json!(3)), Ok(json!(3)));
        assert_eq!(one(Integer, json!(3.0)), Ok(json!(3)));
        assert!(one(Integer, json!(1.5)).is_err());
        assert!(one(Integer, json!("3")).is_err());
        assert_eq!(one(Boolean, json!(false)), Ok(json!(false)));
        assert!(one(Boolean, json!("yes")).is_err());
        assert!(one(Url, json!("https://crm.example.com/api/leads?x=1")).is_ok());
        assert!(one(Url, json!("http://10.0.0.1:8080/hook")).is_ok());
        for bad in [
            "ftp://x.example.com",
            "crm.example.com",
            "https://",
            "https://a b.com",
            "javascript:alert(1)",
        ] {
            assert!(one(Url, json!(bad)).is_err(), "{bad}");
        }
        assert!(one(Email, json!("sales@dealer.example.com")).is_ok());
        for bad in [
            "sales",
            "sales@",
            "@dealer.com",
            "a@b",
            "a b@c.com",
            "a@b@c.com",
            "a@.com",
        ] {
            assert!(one(Email, json!(bad)).is_err(), "{bad}");
        }
        assert!(one(Email, json!(7)).is_err());
    }

    #[test]
    fn ranges_and_options() {
        let mut threshold = spec("t", ParamType::Number, true, None);
        threshold.minimum = Some(-1.0);
        threshold.maximum = Some(1.0);
        assert!(check_value(&threshold, &json!(-1)).is_ok());
        assert_eq!(
            check_value(&threshold, &json!(2)),
            Err("must be at most 1".into())
        );
        let mut priority = spec("p", ParamType::String, false, Some(json!("high")));
        priority.options = Some(vec!["low".into(), "high".into()]);
        assert!(check_value(&priority, &json!("low")).is_ok());
        assert!(check_value(&priority, &json!("urgent")).is_err());
    }

    #[test]
    fn parse_fills_defaults_and_reports_every_fault_with_its_path() {
        let specs = vec![
            spec("crm_url", ParamType::Url, true, None),
            spec("attempts", ParamType::Integer, false, Some(json!(3))),
            spec("source", ParamType::String, false, Some(json!("web"))),
        ];
        let given = json!({"crm_url": "https://crm.example.com", "source": null});
        let values = ParamValues::parse(&specs, given.as_object().unwrap()).unwrap();
        assert_eq!(values.get("attempts"), Some(&json!(3)));
        assert_eq!(values.get("source"), Some(&json!("web")));

        let given = json!({"attempts": "3", "zeta": 1, "alpha": 2});
        let faults = ParamValues::parse(&specs, given.as_object().unwrap()).unwrap_err();
        let paths: Vec<_> = faults.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "params.crm_url",
                "params.attempts",
                "params.alpha",
                "params.zeta"
            ]
        );
        assert_eq!(faults[0].message, "is required");
    }
}
