//! `salesforce_create_lead`: `POST {api}/services/data/v60.0/sobjects/Lead`.

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::input::{object, optional_object, optional_str, required_str, url_with};
use crate::calls::ProviderRequest;
use crate::error::Error;

pub const API_VERSION: &str = "v60.0";

#[derive(Debug, Clone)]
pub struct CreateLead {
    fields: Map<String, Value>,
}

impl CreateLead {
    pub fn parse(input: &Value) -> Result<Self, Error> {
        let input = object(input)?;
        let mut fields = Map::new();
        fields.insert("LastName".into(), json!(required_str(input, "last_name")?));
        fields.insert("Company".into(), json!(required_str(input, "company")?));
        for (field, name) in [
            ("first_name", "FirstName"),
            ("email", "Email"),
            ("phone", "Phone"),
        ] {
            if let Some(value) = optional_str(input, field)? {
                fields.insert(name.into(), json!(value));
            }
        }
        // Custom and other standard fields, as Salesforce names them.
        if let Some(extra) = optional_object(input, "fields")? {
            fields.extend(extra);
        }
        Ok(Self { fields })
    }

    pub fn request(&self, base: url::Url) -> ProviderRequest {
        ProviderRequest {
            method: Method::POST,
            url: url_with(base, &["services", "data", API_VERSION, "sobjects", "Lead"]),
            body: Some(Value::Object(self.fields.clone())),
        }
    }
}

pub fn output(answer: Value) -> Value {
    json!({
        "id": answer.get("id").cloned().unwrap_or(Value::Null),
        "success": answer.get("success").cloned().unwrap_or(Value::Bool(true)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lead_fields_are_named_as_salesforce_wants() {
        let a = CreateLead::parse(&json!({
            "last_name": "Lovelace", "company": "Engines", "email": "ada@e.co",
            "fields": {"LeadSource": "Chat"}
        }))
        .unwrap();
        let req = a.request(url::Url::parse("https://eu1.my.salesforce.com").unwrap());
        assert_eq!(req.url.path(), "/services/data/v60.0/sobjects/Lead");
        assert_eq!(
            req.body.unwrap(),
            json!({"LastName": "Lovelace", "Company": "Engines", "Email": "ada@e.co", "LeadSource": "Chat"})
        );
        let err = CreateLead::parse(&json!({"last_name": "x"})).unwrap_err();
        assert_eq!(err.body()["error"]["details"]["path"], "input.company");
    }
}
