//! The provider actions workflows run (`action.slack_post_message`, ...):
//! each parses its input (422 naming `input.<field>`), builds its request
//! and shapes the provider's answer into the step's output.

mod hubspot;
mod salesforce;
mod sheets;
mod slack;

pub use salesforce::API_VERSION as SALESFORCE_API_VERSION;

use echoflow_domain::IntegrationAction;
use serde_json::{Map, Value};

use crate::calls::ProviderRequest;
use crate::error::{Error, invalid};
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

/// `base` with `segments` appended as path segments (each percent-encoded).
pub fn url_with(mut base: url::Url, segments: &[&str]) -> url::Url {
    if let Ok(mut path) = base.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    base
}

/// The input as an object.
fn object(input: &Value) -> Result<&Map<String, Value>, Error> {
    input
        .as_object()
        .ok_or_else(|| invalid("input", "must be an object"))
}

/// A required, non-empty string field.
fn required_str(input: &Map<String, Value>, field: &str) -> Result<String, Error> {
    match optional_str(input, field)? {
        Some(s) => Ok(s),
        None => Err(invalid(&format!("input.{field}"), "is required")),
    }
}

/// An optional string field: absent, null or blank is None; numbers are
/// taken as their text (a phone number often arrives as one).
fn optional_str(input: &Map<String, Value>, field: &str) -> Result<Option<String>, Error> {
    match input.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(invalid(&format!("input.{field}"), "must be a string")),
    }
}

/// An optional object field.
fn optional_object(
    input: &Map<String, Value>,
    field: &str,
) -> Result<Option<Map<String, Value>>, Error> {
    match input.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o.clone())),
        Some(_) => Err(invalid(&format!("input.{field}"), "must be an object")),
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
