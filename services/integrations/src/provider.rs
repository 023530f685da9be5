//! The providers a connection can be made to, and what differs between them
//! in the OAuth flow.

use echoflow_domain::IntegrationAction;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Slack,
    Hubspot,
    GoogleSheets,
    Salesforce,
}

impl Provider {
    pub const ALL: [Provider; 4] = [
        Provider::Slack,
        Provider::Hubspot,
        Provider::GoogleSheets,
        Provider::Salesforce,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Slack => "slack",
            Provider::Hubspot => "hubspot",
            Provider::GoogleSheets => "google_sheets",
            Provider::Salesforce => "salesforce",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw)
    }

    /// How the authorize URL joins scopes: Slack wants commas, the others
    /// the standard space.
    pub fn scope_separator(self) -> &'static str {
        match self {
            Provider::Slack => ",",
            _ => " ",
        }
    }

    /// Extra authorize parameters: Google only hands out a refresh token
    /// for offline access, and only on a fresh consent.
    pub fn extra_authorize_params(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Provider::GoogleSheets => &[("access_type", "offline"), ("prompt", "consent")],
            _ => &[],
        }
    }
}

/// The provider whose connections run an action (as
/// [`IntegrationAction::provider`] names it; a test holds the two together).
impl From<IntegrationAction> for Provider {
    fn from(action: IntegrationAction) -> Self {
        match action {
            IntegrationAction::SlackPostMessage => Provider::Slack,
            IntegrationAction::HubspotCreateContact => Provider::Hubspot,
            IntegrationAction::SheetsAppendRow => Provider::GoogleSheets,
            IntegrationAction::SalesforceCreateLead => Provider::Salesforce,
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Provider::ALL {
            assert_eq!(Provider::parse(p.as_str()), Some(p));
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        assert_eq!(Provider::parse("github"), None);
    }

    #[test]
    fn each_action_runs_on_the_provider_the_domain_names() {
        for action in IntegrationAction::ALL {
            assert_eq!(Provider::from(action).as_str(), action.provider());
        }
    }
}
