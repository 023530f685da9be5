//! `sheets_append_row`: `POST {api}/v4/spreadsheets/{id}/values/{range}:append`.

use reqwest::Method;
use serde_json::{Value, json};

use super::input::{object, optional_str, required_str, url_with};
use crate::calls::ProviderRequest;
use crate::error::{Error, invalid};

const MAX_ROWS: usize = 1000;

#[derive(Debug, Clone)]
pub struct AppendRow {
    spreadsheet_id: String,
    range: String,
    rows: Vec<Vec<Value>>,
}

impl AppendRow {
    pub fn parse(input: &Value) -> Result<Self, Error> {
        let input = object(input)?;
        let spreadsheet_id = required_str(input, "spreadsheet_id")?;
        if !spreadsheet_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                "input.spreadsheet_id",
                "must be a spreadsheet id (letters, digits, '-' and '_')",
            ));
        }
        let range = optional_str(input, "range")?.unwrap_or_else(|| "Sheet1".into());
        let rows = rows(input.get("values"))?;
        Ok(Self {
            spreadsheet_id,
            range,
            rows,
        })
    }

    pub fn request(&self, base: url::Url) -> ProviderRequest {
        let append = format!("{}:append", self.range);
        let mut url = url_with(
            base,
            &[
                "v4",
                "spreadsheets",
                &self.spreadsheet_id,
                "values",
                &append,
            ],
        );
        url.query_pairs_mut()
            .append_pair("valueInputOption", "USER_ENTERED")
            .append_pair("insertDataOption", "INSERT_ROWS");
        ProviderRequest {
            method: Method::POST,
            url,
            body: Some(json!({"values": self.rows})),
        }
    }
}

/// One row (an array of cells) or several (an array of arrays).
fn rows(values: Option<&Value>) -> Result<Vec<Vec<Value>>, Error> {
    let Some(Value::Array(items)) = values else {
        return Err(invalid(
            "input.values",
            "is required: an array of cells, or an array of rows",
        ));
    };
    if items.is_empty() {
        return Err(invalid("input.values", "must not be empty"));
    }
    let nested = items.iter().filter(|v| v.is_array()).count();
    let rows: Vec<Vec<Value>> = if nested == 0 {
        vec![items.clone()]
    } else if nested == items.len() {
        items
            .iter()
            .map(|r| r.as_array().cloned().unwrap_or_default())
            .collect()
    } else {
        return Err(invalid(
            "input.values",
            "must be all cells (one row) or all arrays (rows), not a mix",
        ));
    };
    if rows.len() > MAX_ROWS {
        return Err(invalid(
            "input.values",
            format!("at most {MAX_ROWS} rows at once"),
        ));
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            if cell.is_object() || cell.is_array() {
                let path = if nested == 0 {
                    format!("input.values[{c}]")
                } else {
                    format!("input.values[{r}][{c}]")
                };
                return Err(invalid(
                    &path,
                    "a cell must be a string, number, boolean or null",
                ));
            }
        }
    }
    Ok(rows)
}

pub fn output(answer: Value) -> Value {
    let updates = answer.get("updates").cloned().unwrap_or(Value::Null);
    json!({
        "updated_range": updates.get("updatedRange").cloned().unwrap_or(Value::Null),
        "updated_rows": updates.get("updatedRows").cloned().unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_or_many_and_the_range_is_encoded() {
        let a = AppendRow::parse(&json!({"spreadsheet_id": "abc", "values": ["x", 1]})).unwrap();
        let req = a.request(url::Url::parse("http://127.0.0.1:9").unwrap());
        assert_eq!(req.url.path(), "/v4/spreadsheets/abc/values/Sheet1:append");
        assert_eq!(
            req.url.query(),
            Some("valueInputOption=USER_ENTERED&insertDataOption=INSERT_ROWS")
        );
        assert_eq!(req.body.unwrap(), json!({"values": [["x", 1]]}));
        let a = AppendRow::parse(
            &json!({"spreadsheet_id": "abc", "range": "My Sheet/2!A1", "values": [["a"], ["b"]]}),
        )
        .unwrap();
        let req = a.request(url::Url::parse("http://127.0.0.1:9").unwrap());
        assert_eq!(
            req.url.path(),
            "/v4/spreadsheets/abc/values/My%20Sheet%2F2!A1:append"
        );
        assert_eq!(req.body.unwrap(), json!({"values": [["a"], ["b"]]}));
        for (input, path) in [
            (json!({"values": [1]}), "input.spreadsheet_id"),
            (json!({"spreadsheet_id": "abc"}), "input.values"),
            (
                json!({"spreadsheet_id": "abc", "values": [1, [2]]}),
                "input.values",
            ),
            (
                json!({"spreadsheet_id": "abc", "values": [{"a": 1}]}),
                "input.values[0]",
            ),
            (
                json!({"spreadsheet_id": "../x", "values": [1]}),
                "input.spreadsheet_id",
            ),
        ] {
            let err = AppendRow::parse(&input).unwrap_err();
            assert_eq!(err.body()["error"]["details"]["path"], path, "{input}");
        }
    }
}
