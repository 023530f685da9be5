//! `hubspot_create_contact`: `POST {api}/crm/v3/objects/contacts`; a contact
//! that already exists (409, e.g. a re-run) is the existing one.

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::input::{object, optional_object, optional_str, required_str, url_with};
use crate::calls::ProviderRequest;
use crate::error::{Error, invalid};

#[derive(Debug, Clone)]
pub struct CreateContact {
    properties: Map<String, Value>,
}

impl CreateContact {
    pub fn parse(input: &Value) -> Result<Self, Error> {
        let input = object(input)?;
        let email = required_str(input, "email")?;
        if !email.contains('@') {
            return Err(invalid("input.email", "must be an email address"));
        }
        // `properties` first; the named fields win over it.
        let mut properties = optional_object(input, "properties")?.unwrap_or_default();
        for (key, value) in &properties {
            if value.is_object() || value.is_array() {
                return Err(invalid(
                    &format!("input.properties.{key}"),
                    "must be a string, number or boolean",
                ));
            }
        }
        properties.insert("email".into(), json!(email));
        for field in ["firstname", "lastname", "phone", "company"] {
            if let Some(value) = optional_str(input, field)? {
                properties.insert(field.into(), json!(value));
            }
        }
        Ok(Self { properties })
    }

    pub fn request(&self, base: url::Url) -> ProviderRequest {
        ProviderRequest {
            method: Method::POST,
            url: url_with(base, &["crm", "v3", "objects", "contacts"]),
            body: Some(json!({"properties": self.properties})),
        }
    }

    pub fn output(&self, answer: Result<Value, Error>) -> Result<Value, Error> {
        match answer {
            Ok(body) => Ok(json!({
                "id": body.get("id").cloned().unwrap_or(Value::Null),
                "created": true,
                "properties": body.get("properties").cloned().unwrap_or_else(|| json!(self.properties)),
            })),
            Err(Error::ProviderRejected {
                status: 409,
                message,
                body,
            }) => match existing_id(&message).or_else(|| existing_id(&body)) {
                Some(id) => Ok(json!({"id": id, "created": false, "properties": self.properties})),
                None => Err(Error::ProviderRejected {
                    status: 409,
                    message,
                    body,
                }),
            },
            Err(other) => Err(other),
        }
    }
}

/// The id in HubSpot's "Contact already exists. Existing ID: 123".
fn existing_id(text: &str) -> Option<String> {
    let rest = &text[text.find("Existing ID:")? + "Existing ID:".len()..];
    let id: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_merge_and_conflicts_are_the_existing_contact() {
        let action = CreateContact::parse(&json!({
            "email": "a@b.co", "firstname": "Ada", "phone": 123,
            "properties": {"lifecyclestage": "lead", "email": "ignored@b.co"}
        }))
        .unwrap();
        let req = action.request(url::Url::parse("http://127.0.0.1:9").unwrap());
        assert_eq!(req.url.path(), "/crm/v3/objects/contacts");
        assert_eq!(
            req.body.unwrap(),
            json!({"properties": {"email": "a@b.co", "firstname": "Ada", "phone": "123", "lifecyclestage": "lead"}})
        );
        let out = action
            .output(Err(Error::ProviderRejected {
                status: 409,
                message: "hubspot: Contact already exists. Existing ID: 4501".into(),
                body: String::new(),
            }))
            .unwrap();
        assert_eq!(out["id"], "4501");
        assert_eq!(out["created"], false);
        let err = CreateContact::parse(&json!({"email": "nope"})).unwrap_err();
        assert_eq!(err.body()["error"]["details"]["path"], "input.email");
    }
}
