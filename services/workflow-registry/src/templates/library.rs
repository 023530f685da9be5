//! The template library: the files in `services/workflow-registry/templates/`,
//! embedded in the binary and seeded into the `templates` table at start.

use anyhow::{Context, bail};

use super::Template;

macro_rules! embed {
    ($($file:literal),* $(,)?) => {
        &[$(($file, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $file)))),*]
    };
}

/// Every template file, by name. A test checks that no file in the folder is
/// left out of this list.
pub const FILES: &[(&str, &str)] = embed![
    "abandoned-cart-follow-up.json",
    "daily-sales-summary-slack.json",
    "feedback-survey.json",
    "human-handoff.json",
    "lead-capture-crm.json",
    "negative-sentiment-escalation.json",
    "newsletter-signup.json",
    "parts-availability-lookup.json",
    "parts-low-stock-alert.json",
    "parts-order-status.json",
    "refund-request.json",
    "service-appointment-request.json",
    "service-due-reminder.json",
    "service-recall-check.json",
    "service-status-update.json",
    "test-drive-booking.json",
    "vip-routing.json",
    "welcome-new-conversation.json",
];

/// The parsed, checked library, sorted by id. Fails on a broken file: that
/// is a bug of this build, refused at start rather than served.
pub fn load() -> anyhow::Result<Vec<Template>> {
    let mut templates = Vec::with_capacity(FILES.len());
    for (file, text) in FILES {
        let template = Template::from_json(text)
            .map_err(|faults| anyhow::anyhow!(faults.join("; ")))
            .with_context(|| format!("template file {file}"))?;
        if Some(template.id.as_str()) != file.strip_suffix(".json") {
            bail!("template file {file} holds id '{}'", template.id);
        }
        templates.push(template);
    }
    templates.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(templates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::workflows::CompiledDefinition;
    use crate::templates::{Category, ParamSpec, ParamType, placeholders};
    use serde_json::{Map, Value, json};
    use std::collections::BTreeSet;

    /// A valid value for each parameter a caller must give.
    fn sample_params(params: &[ParamSpec]) -> Map<String, Value> {
        params
            .iter()
            .filter(|p| p.required)
            .map(|p| {
                let value = match p.param_type {
                    ParamType::Url => json!(format!("https://api.example.com/{}", p.name)),
                    ParamType::Email => json!("team@dealer.example.com"),
                    ParamType::String => match &p.options {
                        Some(options) => json!(options[0]),
                        None => json!(format!("sample {}", p.name)),
                    },
                    ParamType::Number | ParamType::Integer => json!(p.minimum.unwrap_or(1.0)),
                    ParamType::Boolean => json!(true),
                };
                (p.name.clone(), value)
            })
            .collect()
    }

    #[test]
    fn every_file_in_the_folder_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let on_disk: BTreeSet<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".json"))
            .collect();
        let embedded: BTreeSet<String> = FILES.iter().map(|(f, _)| (*f).to_string()).collect();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn every_template_parses_and_its_placeholders_name_declared_params() {
        let templates = load().unwrap();
        assert!(templates.len() >= 12, "{} templates", templates.len());
        let categories: BTreeSet<&str> = templates.iter().map(|t| t.category.as_str()).collect();
        assert_eq!(categories.len(), Category::ALL.len(), "{categories:?}");
        for t in &templates {
            for found in placeholders::scan(&t.flow_definition, "flow_definition") {
                let name = found
                    .name
                    .unwrap_or_else(|| panic!("{}: {:?}", t.id, found.problem));
                assert!(
                    t.params.iter().any(|p| p.name == name),
                    "{}: [[ {name} ]] at {} is not declared",
                    t.id,
                    found.path
                );
            }
        }
    }

    #[test]
    fn every_template_instantiates_into_a_definition_that_compiles() {
        for t in load().unwrap() {
            let definition = t
                .instantiate(&sample_params(&t.params))
                .unwrap_or_else(|e| panic!("{}: {e:?}", t.id));
            assert!(
                !definition.to_string().contains("[["),
                "{}: a placeholder survived",
                t.id
            );
            let limits = crate::routes::workflows::GraphLimits {
                max_nodes: 500,
                max_edges: 2000,
            };
            let compiled = CompiledDefinition::parse(&definition, limits)
                .unwrap_or_else(|e| panic!("{}: {} {}", t.id, e.message, e.details));
            assert_eq!(
                Some(compiled.plan.trigger.node_type.as_str()),
                t.trigger_type(),
                "{}",
                t.id
            );
            assert!(!compiled.plan.nodes.is_empty(), "{}: no steps", t.id);
        }
    }
}
