//! The node kinds a workflow is made of, written once: each variant and the
//! string it is saved and served as (`"action.http_request"`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Declares [`NodeKind`] from `Variant = "saved.name"` pairs, in palette order.
macro_rules! node_kinds {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)+) => {
        /// One node type of the catalogue. Serialised as its saved name, so
        /// stored definitions, plans and the API read as before.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum NodeKind {
            $($(#[$doc])* #[serde(rename = $name)] $variant,)+
        }

        impl NodeKind {
            /// Every kind, in the palette's order.
            pub const ALL: &'static [NodeKind] = &[$(NodeKind::$variant,)+];

            /// The saved name: `"trigger.webhook"`, `"action.set"`, ...
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(NodeKind::$variant => $name,)+
                }
            }
        }

        impl FromStr for NodeKind {
            type Err = UnknownNodeKind;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok(NodeKind::$variant),)+
                    _ => Err(UnknownNodeKind(s.to_owned())),
                }
            }
        }
    };
}

node_kinds! {
    TriggerWebhook = "trigger.webhook",
    TriggerManual = "trigger.manual",
    TriggerSchedule = "trigger.schedule",
    TriggerEvent = "trigger.event",
    TriggerConversationStarted = "trigger.conversation_started",
    TriggerMessageReceived = "trigger.message_received",
    TriggerSentiment = "trigger.sentiment",
    TriggerIntentDetected = "trigger.intent_detected",
    /// Designed, not runnable yet (no image service): see [`NodeKind::is_available`].
    TriggerImageUploaded = "trigger.image_uploaded",
    ActionHttpRequest = "action.http_request",
    ActionSet = "action.set",
    ConditionIf = "condition.if",
    ConditionSwitch = "condition.switch",
    ActionDelay = "action.delay",
    ActionSendMessage = "action.send_message",
    ActionTagConversation = "action.tag_conversation",
    ActionAiText = "action.ai_text",
    ActionSlackPostMessage = "action.slack_post_message",
    ActionHubspotCreateContact = "action.hubspot_create_contact",
    ActionSheetsAppendRow = "action.sheets_append_row",
    ActionSalesforceCreateLead = "action.salesforce_create_lead",
    /// Answers the waiting webhook caller (`trigger.webhook` with `respond: when_finished`).
    ActionRespond = "action.respond",
    FlowMerge = "flow.merge",
}

/// A name that is no node kind, kept to report it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown node type '{0}'")]
pub struct UnknownNodeKind(pub String);

/// The palette's groups of node kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Trigger,
    Action,
    Condition,
    Flow,
}

impl Category {
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Trigger => "trigger",
            Category::Action => "action",
            Category::Condition => "condition",
            Category::Flow => "flow",
        }
    }
}

impl NodeKind {
    /// The kind's palette group: the part of its name before the dot.
    pub const fn category(self) -> Category {
        use NodeKind::*;
        match self {
            TriggerWebhook
            | TriggerManual
            | TriggerSchedule
            | TriggerEvent
            | TriggerConversationStarted
            | TriggerMessageReceived
            | TriggerSentiment
            | TriggerIntentDetected
            | TriggerImageUploaded => Category::Trigger,
            ConditionIf | ConditionSwitch => Category::Condition,
            FlowMerge => Category::Flow,
            ActionHttpRequest
            | ActionSet
            | ActionDelay
            | ActionSendMessage
            | ActionTagConversation
            | ActionAiText
            | ActionSlackPostMessage
            | ActionHubspotCreateContact
            | ActionSheetsAppendRow
            | ActionSalesforceCreateLead
            | ActionRespond => Category::Action,
        }
    }

    /// Whether the kind starts a workflow.
    pub const fn is_trigger(self) -> bool {
        matches!(self.category(), Category::Trigger)
    }

    /// Whether a workflow may use the kind today. The others are part of the
    /// designed catalogue but need services (images) that are not built yet:
    /// the registry refuses them on save and the palette hides them.
    pub const fn is_available(self) -> bool {
        !matches!(self, NodeKind::TriggerImageUploaded)
    }
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with a saved name, as tests and JSON read it.
impl PartialEq<&str> for NodeKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_saved_name() {
        for kind in NodeKind::ALL {
            let name = kind.as_str();
            assert_eq!(name.parse::<NodeKind>(), Ok(*kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), name);
            assert_eq!(
                serde_json::from_value::<NodeKind>(name.into()).unwrap(),
                *kind
            );
            assert_eq!(kind.to_string(), name);
            let prefix = name.split('.').next().unwrap();
            let category = serde_json::to_value(kind.category()).unwrap();
            assert_eq!(category, prefix, "{name}");
        }
        assert_eq!(
            "action.nope".parse::<NodeKind>(),
            Err(UnknownNodeKind("action.nope".into()))
        );
        assert!(serde_json::from_value::<NodeKind>("action.nope".into()).is_err());
    }
}
