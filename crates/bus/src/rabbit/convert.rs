//! Conversions between our message types and AMQP properties.

use std::collections::BTreeMap;

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

use crate::{BusError, Delivery, OutgoingMessage};

/// Persistent delivery mode: the broker writes the message to disk.
const PERSISTENT: u8 = 2;

pub(crate) fn short_string(what: &str, value: &str) -> Result<ShortString, BusError> {
    ShortString::try_new(value)
        .map_err(|_| BusError::InvalidMessage(format!("{what} is longer than 255 bytes")))
}

pub(crate) fn field_table(headers: &BTreeMap<String, String>) -> Result<FieldTable, BusError> {
    let mut table = FieldTable::default();
    for (key, value) in headers {
        table.insert(
            short_string("a header name", key)?,
            AMQPValue::LongString(LongString::from(value.as_bytes())),
        );
    }
    Ok(table)
}

/// The AMQP properties of an outgoing message.
pub(crate) fn properties(message: &OutgoingMessage) -> Result<BasicProperties, BusError> {
    Ok(BasicProperties::default()
        .with_message_id(short_string("message_id", &message.message_id)?)
        .with_content_type(short_string("content_type", &message.content_type)?)
        .with_delivery_mode(PERSISTENT)
        .with_headers(field_table(&message.headers)?))
}

/// Header values as strings; nested tables and arrays (e.g. `x-death`) are left out.
pub(crate) fn headers_of(properties: &BasicProperties) -> BTreeMap<String, String> {
    let Some(table) = properties.headers() else {
        return BTreeMap::new();
    };
    table
        .inner()
        .iter()
        .filter_map(|(key, value)| Some((key.to_string(), value_to_string(value)?)))
        .collect()
}

fn value_to_string(value: &AMQPValue) -> Option<String> {
    Some(match value {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.to_string(),
        AMQPValue::Boolean(v) => v.to_string(),
        AMQPValue::ShortShortInt(v) => v.to_string(),
        AMQPValue::ShortShortUInt(v) => v.to_string(),
        AMQPValue::ShortInt(v) => v.to_string(),
        AMQPValue::ShortUInt(v) => v.to_string(),
        AMQPValue::LongInt(v) => v.to_string(),
        AMQPValue::LongUInt(v) => v.to_string(),
        AMQPValue::LongLongInt(v) => v.to_string(),
        AMQPValue::Float(v) => v.to_string(),
        AMQPValue::Double(v) => v.to_string(),
        AMQPValue::Timestamp(v) => v.to_string(),
        _ => return None,
    })
}

/// Our view of a lapin delivery (the body is copied: the original is kept for dead-lettering).
pub(crate) fn delivery_of(delivery: &lapin::message::Delivery) -> Delivery {
    let properties = &delivery.properties;
    Delivery {
        message_id: properties
            .message_id()
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        exchange: delivery.exchange.to_string(),
        routing_key: delivery.routing_key.to_string(),
        content_type: properties
            .content_type()
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        headers: headers_of(properties),
        body: delivery.data.clone(),
        redelivered: delivery.redelivered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_carry_id_type_persistence_and_headers() {
        let message = OutgoingMessage::new("id-1", "rk", "application/json", b"{}".to_vec())
            .with_header("traceparent", "00-abc-def-01");
        let props = properties(&message).unwrap();
        assert_eq!(props.message_id().as_ref().unwrap().as_str(), "id-1");
        assert_eq!(
            props.content_type().as_ref().unwrap().as_str(),
            "application/json"
        );
        assert_eq!(*props.delivery_mode(), Some(2));
        let headers = headers_of(&props);
        assert_eq!(headers.get("traceparent").unwrap(), "00-abc-def-01");
    }

    #[test]
    fn too_long_names_are_rejected_not_panicking() {
        let message = OutgoingMessage::new("x".repeat(300), "rk", "text/plain", Vec::new());
        assert!(matches!(
            properties(&message),
            Err(BusError::InvalidMessage(_))
        ));
    }
}
