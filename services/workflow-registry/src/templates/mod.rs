//! Workflow templates: a library of ready-made definitions with typed
//! `[[ param ]]` placeholders, instantiated into workflows.

pub mod library;
pub mod params;
pub mod placeholders;

use echoflow_domain::NodeKind;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

pub use params::{ParamFault, ParamSpec, ParamType, ParamValues};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Category {
    Sales,
    Service,
    Parts,
    Support,
    Marketing,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::Sales,
        Category::Service,
        Category::Parts,
        Category::Support,
        Category::Marketing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Sales => "Sales",
            Category::Service => "Service",
            Category::Parts => "Parts",
            Category::Support => "Support",
            Category::Marketing => "Marketing",
        }
    }

    /// The category named `s`, in any case.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// A template as its file holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// A slug: `lead-capture-crm`.
    pub id: String,
    pub name: String,
    pub category: Category,
    pub description: String,
    pub params: Vec<ParamSpec>,
    /// A React Flow definition whose strings may hold `[[ param ]]`.
    pub flow_definition: Value,
}

impl Template {
    /// Parses a template file and checks it: a slug id, declared parameters
    /// with unique names and typed defaults for the optional ones, and a
    /// definition whose every placeholder names a declared parameter and
    /// uses every one. Returns every fault found.
    pub fn from_json(text: &str) -> Result<Self, Vec<String>> {
        let template: Self = serde_json::from_str(text).map_err(|e| vec![e.to_string()])?;
        let faults = template.faults();
        if faults.is_empty() {
            Ok(template)
        } else {
            Err(faults)
        }
    }

    fn faults(&self) -> Vec<String> {
        let mut faults = Vec::new();
        if !is_slug(&self.id) {
            faults.push(format!(
                "id '{}' must be a slug (a-z, 0-9, single dashes)",
                self.id
            ));
        }
        if self.name.trim().is_empty() || self.description.trim().is_empty() {
            faults.push("name and description must not be empty".into());
        }
        for (i, spec) in self.params.iter().enumerate() {
            faults.extend(
                spec_faults(spec)
                    .into_iter()
                    .map(|f| format!("params[{i}] ({}): {f}", spec.name)),
            );
            if self.params[..i].iter().any(|p| p.name == spec.name) {
                faults.push(format!("params[{i}]: duplicate name '{}'", spec.name));
            }
        }
        if !self.flow_definition.is_object() {
            faults.push("flow_definition must be an object".into());
        }
        let found = placeholders::scan(&self.flow_definition, "flow_definition");
        for f in &found {
            match (&f.name, f.problem) {
                (_, Some(problem)) => faults.push(format!("{}: {problem}", f.path)),
                (Some(name), None) if !self.params.iter().any(|p| &p.name == name) => faults.push(
                    format!("{}: [[ {name} ]] is not a declared parameter", f.path),
                ),
                _ => {}
            }
        }
        for spec in &self.params {
            if !found.iter().any(|f| f.name.as_ref() == Some(&spec.name)) {
                faults.push(format!("parameter '{}' is never used", spec.name));
            }
        }
        faults
    }

    /// The definition with `given` substituted for the placeholders, after
    /// checking `given` against the declared parameters.
    pub fn instantiate(&self, given: &Map<String, Value>) -> Result<Value, InstantiateError> {
        let values = ParamValues::parse(&self.params, given).map_err(InstantiateError::Params)?;
        placeholders::substitute(&self.flow_definition, &|name| values.get(name))
            .map_err(|e| InstantiateError::Template(e.to_string()))
    }

    /// The type of the definition's trigger node (`trigger.webhook`).
    pub fn trigger_type(&self) -> Option<&str> {
        trigger_type(&self.flow_definition)
    }
}

/// The first trigger node's type in a definition.
pub fn trigger_type(definition: &Value) -> Option<&str> {
    definition["nodes"]
        .as_array()?
        .iter()
        .filter_map(|n| n["type"].as_str())
        .find(|t| t.parse::<NodeKind>().is_ok_and(NodeKind::is_trigger))
}

#[derive(Debug, thiserror::Error)]
pub enum InstantiateError {
    #[error("invalid parameters")]
    Params(Vec<ParamFault>),
    /// The stored template is broken (never for a template that loaded).
    #[error("the template is broken: {0}")]
    Template(String),
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.split('-').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

fn spec_faults(spec: &ParamSpec) -> Vec<String> {
    let mut faults = Vec::new();
    if !placeholders::is_param_name(&spec.name) {
        faults.push("name must be a-z, 0-9 and _, starting with a letter".into());
    }
    if spec.description.trim().is_empty() {
        faults.push("description must not be empty".into());
    }
    match (&spec.default, spec.required) {
        (Some(_), true) => faults.push("a required parameter takes no default".into()),
        (None, false) => faults.push("an optional parameter needs a default".into()),
        (Some(default), false) => {
            if let Err(e) = params::check_value(spec, default) {
                faults.push(format!("default {e}"));
            }
        }
        (None, true) => {}
    }
    let numeric = matches!(spec.param_type, ParamType::Number | ParamType::Integer);
    if !numeric && (spec.minimum.is_some() || spec.maximum.is_some()) {
        faults.push("minimum and maximum are for number and integer parameters".into());
    }
    if spec.options.is_some() && spec.param_type != ParamType::String {
        faults.push("options are for string parameters".into());
    }
    faults
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(params: Value, definition: Value) -> String {
        json!({
            "id": "t", "name": "T", "category": "Sales", "description": "d",
            "params": params, "flow_definition": definition
        })
        .to_string()
    }

    #[test]
    fn a_template_must_declare_and_use_exactly_its_placeholders() {
        let faults = Template::from_json(&template(
            json!([{"name": "used", "type": "url", "required": true, "description": "d"},
                   {"name": "unused", "type": "string", "required": false, "default": "x", "description": "d"}]),
            json!({"nodes": [{"url": "[[ used ]]", "text": "[[ undeclared ]] [[ typo-here ]]"}]}),
        ))
        .unwrap_err();
        assert!(
            faults
                .iter()
                .any(|f| f.contains("[[ undeclared ]] is not a declared parameter")),
            "{faults:?}"
        );
        assert!(
            faults.iter().any(|f| f.contains("not a placeholder")),
            "{faults:?}"
        );
        assert!(
            faults.iter().any(|f| f.contains("'unused' is never used")),
            "{faults:?}"
        );
    }

    #[test]
    fn defaults_must_fit_their_parameter() {
        let faults = Template::from_json(&template(
            json!([{"name": "a", "type": "integer", "required": false, "default": "3", "description": "d"},
                   {"name": "b", "type": "url", "required": false, "description": "d"},
                   {"name": "c", "type": "email", "required": true, "default": "x@y.com", "description": "d"}]),
            json!({"nodes": ["[[ a ]][[ b ]][[ c ]]"]}),
        ))
        .unwrap_err();
        assert_eq!(faults.len(), 3, "{faults:?}");
    }

    #[test]
    fn categories_parse_in_any_case() {
        assert_eq!(Category::parse("parts"), Some(Category::Parts));
        assert_eq!(Category::parse("MARKETING"), Some(Category::Marketing));
        assert_eq!(Category::parse("finance"), None);
    }
}
