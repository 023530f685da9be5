//! The integration actions, written once: the node kind a workflow uses, the
//! action's name in the integrations service's internal API
//! (`POST /internal/actions/{name}`), and the provider of its connection.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::kind::NodeKind;

/// An action the integrations service runs with one of the owner's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationAction {
    SlackPostMessage,
    HubspotCreateContact,
    SheetsAppendRow,
    SalesforceCreateLead,
}

impl IntegrationAction {
    pub const ALL: [IntegrationAction; 4] = [
        IntegrationAction::SlackPostMessage,
        IntegrationAction::HubspotCreateContact,
        IntegrationAction::SheetsAppendRow,
        IntegrationAction::SalesforceCreateLead,
    ];

    /// The action's name in the internal API: `"slack_post_message"`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            IntegrationAction::SlackPostMessage => "slack_post_message",
            IntegrationAction::HubspotCreateContact => "hubspot_create_contact",
            IntegrationAction::SheetsAppendRow => "sheets_append_row",
            IntegrationAction::SalesforceCreateLead => "salesforce_create_lead",
        }
    }

    /// The node kind that runs the action in a workflow.
    pub const fn node_kind(self) -> NodeKind {
        match self {
            IntegrationAction::SlackPostMessage => NodeKind::ActionSlackPostMessage,
            IntegrationAction::HubspotCreateContact => NodeKind::ActionHubspotCreateContact,
            IntegrationAction::SheetsAppendRow => NodeKind::ActionSheetsAppendRow,
            IntegrationAction::SalesforceCreateLead => NodeKind::ActionSalesforceCreateLead,
        }
    }

    /// The provider a connection must be of to run the action, as the
    /// integrations service names it (`"google_sheets"`).
    pub const fn provider(self) -> &'static str {
        match self {
            IntegrationAction::SlackPostMessage => "slack",
            IntegrationAction::HubspotCreateContact => "hubspot",
            IntegrationAction::SheetsAppendRow => "google_sheets",
            IntegrationAction::SalesforceCreateLead => "salesforce",
        }
    }
}

/// A name that is no integration action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action '{0}'")]
pub struct UnknownAction(pub String);

impl NodeKind {
    /// The integrations action the kind runs, if it is one. (Here rather than
    /// in `kind.rs`, so that the action table imports the kinds and not the
    /// other way round.)
    pub fn integration_action(self) -> Option<IntegrationAction> {
        IntegrationAction::ALL
            .iter()
            .copied()
            .find(|action| action.node_kind() == self)
    }
}

impl FromStr for IntegrationAction {
    type Err = UnknownAction;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|action| action.as_str() == s)
            .ok_or_else(|| UnknownAction(s.to_owned()))
    }
}

impl fmt::Display for IntegrationAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_their_node_kind() {
        for action in IntegrationAction::ALL {
            assert_eq!(action.as_str().parse(), Ok(action));
            assert_eq!(serde_json::to_value(action).unwrap(), action.as_str());
            assert_eq!(
                action.node_kind().as_str(),
                format!("action.{}", action.as_str())
            );
            assert_eq!(action.node_kind().integration_action(), Some(action));
        }
        assert!("github_open_issue".parse::<IntegrationAction>().is_err());
    }

    #[test]
    fn integration_kinds_name_their_action() {
        let with_action: Vec<_> = NodeKind::ALL
            .iter()
            .filter_map(|k| k.integration_action().map(|a| (*k, a)))
            .collect();
        assert_eq!(with_action.len(), IntegrationAction::ALL.len());
        for (kind, action) in with_action {
            assert_eq!(action.node_kind(), kind);
        }
    }
}
