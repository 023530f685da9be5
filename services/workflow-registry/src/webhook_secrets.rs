//! Webhook HMAC secrets at rest: sealed with the keyring (AES-256-GCM, the
//! keys of `registry.encryption_keys`) before a version is stored, opened
//! only to check a delivery's signature, and never shown: answers carry
//! `hmac_secret_set: true` in its place.
//!
//! A stored secret is the string `sealed:<key id>:<base64(nonce || ciphertext)>`
//! in the trigger's config, in both the saved graph and the compiled plan; it
//! is still a non-empty string, so stored versions validate as before when
//! they are rolled back to or copied.

use echoflow_crypto::{CryptoError, DEV_KEY_ID, Keyring};
use echoflow_domain::{NodeKind, TriggerSpec};
use echoflow_service_kit::{ApiError, ErrorCode};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, QueryOrder, QuerySelect, Set};
use serde_json::{Value, json};

use crate::routes::workflows::definition::CompiledDefinition;
use crate::settings::RegistrySettings;
use crate::store::versions;

const WEBHOOK: &str = NodeKind::TriggerWebhook.as_str();
const SECRET: &str = "hmac_secret";
/// Shown instead of the secret; sent back as `true`, it keeps the current one.
const SECRET_SET: &str = "hmac_secret_set";
const SEALED: &str = "sealed:";
/// Associated data of every sealed secret: a sealed value opens only as a
/// webhook secret. It is not bound to one workflow, so a copy of a workflow
/// keeps its secret as is.
const AAD: &str = "workflow-registry:trigger.webhook:hmac_secret";

/// The keyring and the signature tolerance, as app data.
pub struct WebhookSecrets {
    keyring: Keyring,
    /// How far a timestamped signature's time may be from now.
    pub tolerance_secs: i64,
}

impl WebhookSecrets {
    pub fn from_settings(settings: &RegistrySettings) -> anyhow::Result<Self> {
        let keyring = Keyring::parse_section(
            "registry",
            &settings.encryption_keys,
            &settings.active_key_id,
        )?;
        if keyring.active_id() == DEV_KEY_ID {
            tracing::warn!(
                "webhook secrets are sealed with the public development key \"dev\"; \
                 set registry.encryption_keys and registry.active_key_id in production"
            );
        }
        Ok(Self {
            keyring,
            tolerance_secs: settings.webhook_signature_tolerance_secs,
        })
    }

    fn seal(&self, clear: &str) -> Result<String, ApiError> {
        let sealed = self
            .keyring
            .encrypt(clear, AAD)
            .map_err(ApiError::internal)?;
        Ok(format!("{SEALED}{}:{sealed}", self.keyring.active_id()))
    }

    /// The clear secret of a stored value. A value stored before secrets
    /// were sealed (not yet sealed by [`seal_stored`]) is its own clear text.
    pub fn open(&self, stored: &str) -> Result<String, CryptoError> {
        let Some(sealed) = stored.strip_prefix(SEALED) else {
            return Ok(stored.to_owned());
        };
        let (key_id, value) = sealed.split_once(':').ok_or(CryptoError::Malformed)?;
        self.keyring.decrypt(key_id, value, AAD)
    }

    /// Seals the secret a caller gave in a new graph, in both the graph and
    /// its plan. Without one, `hmac_secret_set: true` keeps the secret of
    /// `current` (the workflow's current plan); otherwise there is none.
    pub fn seal_given(
        &self,
        compiled: &mut CompiledDefinition,
        current: Option<&Value>,
    ) -> Result<(), ApiError> {
        if compiled.plan.trigger.node_type != NodeKind::TriggerWebhook {
            return Ok(());
        }
        let config = &compiled.plan.trigger.config;
        let sealed = match config.get(SECRET).and_then(Value::as_str) {
            Some(clear) => Some(self.seal(clear)?),
            None if config.get(SECRET_SET).and_then(Value::as_bool) == Some(true) => {
                Some(self.current_secret(compiled, current)?)
            }
            None => None,
        };
        let trigger_id = compiled.plan.trigger.id.clone();
        let node = compiled
            .definition
            .nodes
            .iter_mut()
            .find(|n| n.id == trigger_id)
            .map(|n| &mut n.data.config);
        for config in std::iter::once(&mut compiled.plan.trigger.config).chain(node) {
            if let Some(map) = config.as_object_mut() {
                map.remove(SECRET_SET);
                match &sealed {
                    Some(sealed) => map.insert(SECRET.to_owned(), json!(sealed)),
                    None => map.remove(SECRET),
                };
            }
        }
        Ok(())
    }

    /// The sealed secret of the current plan, for a graph that keeps it.
    fn current_secret(
        &self,
        compiled: &CompiledDefinition,
        current: Option<&Value>,
    ) -> Result<String, ApiError> {
        let stored = match current.and_then(TriggerSpec::of_stored_plan) {
            Some(TriggerSpec::Webhook(webhook)) => webhook.hmac_secret,
            _ => None,
        };
        match stored.as_deref() {
            Some(stored) if stored.starts_with(SEALED) => Ok(stored.to_owned()),
            Some(legacy) => self.seal(legacy),
            None => {
                let index = compiled
                    .definition
                    .nodes
                    .iter()
                    .position(|n| n.id == compiled.plan.trigger.id)
                    .unwrap_or_default();
                let path = format!("flow_definition.nodes[{index}].data.config.{SECRET_SET}");
                Err(ApiError::new(
                    ErrorCode::InvalidWorkflow,
                    format!("invalid workflow at {path}: there is no current secret to keep; give hmac_secret"),
                )
                .with_details(json!({"path": path})))
            }
        }
    }
}

/// A graph as callers see it: each webhook trigger's secret replaced by
/// `hmac_secret_set: true`.
pub fn redact(mut definition: Value) -> Value {
    let nodes = definition
        .get_mut("nodes")
        .and_then(Value::as_array_mut)
        .map(|nodes| nodes.iter_mut())
        .into_iter()
        .flatten();
    for node in nodes.filter(|n| n["type"] == WEBHOOK) {
        if let Some(config) = node
            .pointer_mut("/data/config")
            .and_then(Value::as_object_mut)
            && config.remove(SECRET).is_some()
        {
            config.insert(SECRET_SET.to_owned(), Value::Bool(true));
        }
    }
    definition
}

/// Seals every secret stored in clear by an earlier release, in each
/// version's graph and plan; returns how many versions changed. Run at
/// start, before the registry serves.
pub async fn seal_stored(db: &DatabaseConnection, secrets: &WebhookSecrets) -> anyhow::Result<u64> {
    const PAGE: u64 = 200;
    let mut changed = 0;
    let mut offset = 0;
    loop {
        let page: Vec<(uuid::Uuid, i32, Value)> = versions::Entity::find()
            .select_only()
            .column(versions::Column::WorkflowId)
            .column(versions::Column::Version)
            .column(versions::Column::Plan)
            .order_by_asc(versions::Column::WorkflowId)
            .order_by_asc(versions::Column::Version)
            .limit(PAGE)
            .offset(offset)
            .into_tuple()
            .all(db)
            .await?;
        for (workflow_id, version, plan) in &page {
            let trigger = &plan["trigger"];
            let Some(clear) = trigger["config"][SECRET].as_str() else {
                continue;
            };
            if trigger["node_type"] != WEBHOOK || clear.starts_with(SEALED) {
                continue;
            }
            let sealed = json!(
                secrets
                    .seal(clear)
                    .map_err(|e| anyhow::anyhow!(e.message))?
            );
            let Some(row) = versions::find(db, *workflow_id, *version).await? else {
                continue;
            };
            let (mut definition, mut plan) = (row.definition.clone(), row.plan.clone());
            plan["trigger"]["config"][SECRET] = sealed.clone();
            let trigger_id = plan["trigger"]["id"].clone();
            if let Some(nodes) = definition["nodes"].as_array_mut() {
                for node in nodes.iter_mut().filter(|n| n["id"] == trigger_id) {
                    node["data"]["config"][SECRET] = sealed.clone();
                }
            }
            let mut active: versions::ActiveModel = row.into();
            active.definition = Set(definition);
            active.plan = Set(plan);
            active.update(db).await?;
            changed += 1;
        }
        if (page.len() as u64) < PAGE {
            return Ok(changed);
        }
        offset += PAGE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_only_webhook_secrets() {
        let shown = redact(json!({"nodes": [
            {"id": "h", "type": "trigger.webhook", "data": {"config": {"hmac_secret": "sealed:k:abc", "signature_header": "x"}}},
            {"id": "s", "type": "action.set", "data": {"config": {"values": {"hmac_secret": "mine"}}}},
            {"id": "h2", "type": "trigger.webhook", "data": {"config": {}}}
        ]}));
        assert_eq!(
            shown["nodes"][0]["data"]["config"],
            json!({"hmac_secret_set": true, "signature_header": "x"})
        );
        assert_eq!(
            shown["nodes"][1]["data"]["config"]["values"]["hmac_secret"],
            "mine"
        );
        assert_eq!(shown["nodes"][2]["data"]["config"], json!({}));
        assert_eq!(redact(json!("not a graph")), json!("not a graph"));
    }
}
