//! Run with: cargo test -p echoflow-workflow-registry --test api templates
//!
//! The template library: listed by category, read one by one, and
//! instantiated with typed parameters into workflows of the caller's
//! chatbots that run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use echoflow_bus::topology::EXECUTOR_JOBS;
use echoflow_migrations::Slice;
use echoflow_workflow_registry::store::templates as stored;
use echoflow_workflow_registry::templates::library;
use sea_orm::{DatabaseConnection, EntityTrait};
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::events::{event_ids, jobs_until};
use crate::helpers::{
    PUBLIC_URL, PgDatabase, TestApp, assert_error, read, spawn_app, trigger_data,
};

mod instantiating;
mod reading;
mod running;
mod seeding;

const CATEGORIES: [&str; 5] = ["Sales", "Service", "Parts", "Support", "Marketing"];

impl TestApp {
    async fn template_get_as(&self, token: Option<&str>, path: &str) -> (u16, Value) {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        read(request.send().await.unwrap()).await
    }

    async fn list_templates(&self, query: &str) -> (u16, Value) {
        self.template_get_as(Some(&self.token), &format!("/api/v1/templates{query}"))
            .await
    }

    async fn get_template(&self, id: &str) -> (u16, Value) {
        self.template_get_as(Some(&self.token), &format!("/api/v1/templates/{id}"))
            .await
    }

    async fn instantiate_as(&self, token: &str, id: &str, body: &Value) -> (u16, Value) {
        let request = self
            .client
            .post(self.url(&format!("/api/v1/templates/{id}/instantiate")))
            .bearer_auth(token)
            .json(body);
        read(request.send().await.unwrap()).await
    }

    async fn instantiate(&self, id: &str, body: &Value) -> (u16, Value) {
        self.instantiate_as(&self.token, id, body).await
    }

    /// Instantiates a template that must make a valid workflow; returns it.
    async fn instantiated(&self, id: &str, body: &Value) -> Value {
        let (status, created) = self.instantiate(id, body).await;
        assert_eq!(status, 201, "instantiate {id}: {created}");
        created
    }
}

/// A valid value for every required parameter of a template (as `GET
/// /api/v1/templates/{id}` describes them); optional ones keep their default.
fn sample_params(template: &Value) -> Map<String, Value> {
    template["params"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["required"] == true)
        .map(|p| {
            let name = p["name"].as_str().unwrap();
            let value = match p["type"].as_str().unwrap() {
                "url" => json!(format!("https://api.example.com/{name}")),
                "email" => json!("team@dealer.example.com"),
                "string" => match p["options"].as_array() {
                    Some(options) => options[0].clone(),
                    None => json!(format!("sample {name}")),
                },
                "number" | "integer" => p.get("minimum").cloned().unwrap_or(json!(1)),
                "boolean" => json!(true),
                other => panic!("{name}: unknown parameter type {other}"),
            };
            (name.to_string(), value)
        })
        .collect()
}

/// Every node of a definition by id.
fn nodes_by_id(definition: &Value) -> Map<String, Value> {
    definition["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap().to_string(), n.clone()))
        .collect()
}

/// A planned node (the trigger or a step) of a job's plan, by id.
fn planned(plan: &Value, id: &str) -> Value {
    std::iter::once(&plan["trigger"])
        .chain(plan["nodes"].as_array().unwrap())
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("no node {id} in {plan}"))
        .clone()
}

fn lead_capture_params() -> Value {
    json!({
        "crm_url": "https://crm.dealer.example.com/api/leads",
        "crm_api_key": "crm-secret-key",
        "lead_source": "showroom-kiosk",
        "max_attempts": 5
    })
}
