//! The provider actions workflows run (`action.slack_post_message`, ...):
//! each parses its input (422 naming `input.<field>`), builds its request
//! and shapes the provider's answer into the step's output.

mod hubspot;
mod input;
mod salesforce;
mod sheets;
mod slack;

pub use input::url_with;
pub use salesforce::API_VERSION as SALESFORCE_API_VERSION;

use echoflow_domain::IntegrationAction;
use serde_json::Value;

use crate::calls::ProviderRequest;
use crate::error::Error;
use crate::provider::Provider;

/// An action and its checked input.
#[derive(Debug, Clone)]
pub enum Action {
    SlackPostMessage(slack::PostMessage),
    HubspotCreateContact(hubspot::CreateContact),
    SheetsAppendRow(sheets::AppendRow),
    SalesforceCreateLead(salesforce::CreateLead),
}

impl Action {
    /// Parses `input` for the action named `name` in the internal API; None
    /// for an unknown action.
    pub fn parse(name: &str, input: &Value) -> Option<Result<Self, Error>> {
        let parsed = match name.parse::<IntegrationAction>().ok()? {
            IntegrationAction::SlackPostMessage => {
                slack::PostMessage::parse(input).map(Self::SlackPostMessage)
            }
            IntegrationAction::HubspotCreateContact => {
                hubspot::CreateContact::parse(input).map(Self::HubspotCreateContact)
            }
            IntegrationAction::SheetsAppendRow => {
                sheets::AppendRow::parse(input).map(Self::SheetsAppendRow)
            }
            IntegrationAction::SalesforceCreateLead => {
                salesforce::CreateLead::parse(input).map(Self::SalesforceCreateLead)
            }
        };
        Some(parsed)
    }

    pub fn name(&self) -> IntegrationAction {
        match self {
            Self::SlackPostMessage(_) => IntegrationAction::SlackPostMessage,
            Self::HubspotCreateContact(_) => IntegrationAction::HubspotCreateContact,
            Self::SheetsAppendRow(_) => IntegrationAction::SheetsAppendRow,
            Self::SalesforceCreateLead(_) => IntegrationAction::SalesforceCreateLead,
        }
    }

    /// The provider whose connections can run the action.
    pub fn provider(&self) -> Provider {
        Provider::from(self.name())
    }

    /// The request to send, against the connection's API base.
    pub fn request(&self, base: url::Url) -> ProviderRequest {
        match self {
            Self::SlackPostMessage(a) => a.request(base),
            Self::HubspotCreateContact(a) => a.request(base),
            Self::SheetsAppendRow(a) => a.request(base),
            Self::SalesforceCreateLead(a) => a.request(base),
        }
    }

    /// The step output from the provider's answer; some provider refusals
    /// are a success here (HubSpot's "already exists" on a re-run).
    pub fn output(&self, answer: Result<Value, Error>) -> Result<Value, Error> {
        match self {
            Self::SlackPostMessage(_) => answer.map(slack::output),
            Self::HubspotCreateContact(a) => a.output(answer),
            Self::SheetsAppendRow(_) => answer.map(sheets::output),
            Self::SalesforceCreateLead(_) => answer.map(salesforce::output),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_actions_and_bad_inputs() {
        assert!(Action::parse("github_open_issue", &json!({})).is_none());
        let err = Action::parse("slack_post_message", &json!([]))
            .unwrap()
            .unwrap_err();
        assert_eq!(err.body()["error"]["details"]["path"], "input");
    }

    #[test]
    fn urls_get_encoded_segments() {
        let base = url::Url::parse("http://127.0.0.1:9/api/").unwrap();
        let url = url_with(base, &["a b", "c/d"]);
        assert_eq!(url.as_str(), "http://127.0.0.1:9/api/a%20b/c%2Fd");
    }
}
