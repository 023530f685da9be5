//! `echoflow openapi`: the API contract, `docs/openapi.json`, from the code.
//! The document is the one the gateway serves at `/api/openapi.json`: the
//! gateway's own with every service's merged in by the same function
//! ([`echoflow_gateway::openapi::document`]), keys sorted, so the same code
//! always prints the same text. `make openapi` rewrites the committed file;
//! the tests below fail when it is stale or when an operation breaks the
//! contract's rules.

use std::path::PathBuf;

use clap::Args;
use serde_json::Value;
use utoipa::OpenApi;

#[derive(Args)]
pub struct OpenapiArgs {
    /// Write the document to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Compare this file with the document and fail if they differ.
    #[arg(long, conflicts_with = "out")]
    check: Option<PathBuf>,
}

/// The merged contract of every service.
pub fn document() -> Value {
    let services = [
        serde_json::to_value(echoflow_workflow_registry::openapi::RegistryDoc::openapi()),
        serde_json::to_value(echoflow_chat::openapi::ChatDoc::openapi()),
        serde_json::to_value(echoflow_integrations::openapi::IntegrationsDoc::openapi()),
        serde_json::to_value(echoflow_executor::openapi::ExecutorDoc::openapi()),
    ];
    let services: Vec<Value> = services.into_iter().filter_map(Result::ok).collect();
    echoflow_gateway::openapi::document(&services)
}

/// The document as `docs/openapi.json` holds it: two-space indents, a final newline.
pub fn render() -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(&document())? + "\n")
}

pub fn run(args: OpenapiArgs) -> anyhow::Result<()> {
    let text = render()?;
    match (args.out, args.check) {
        (Some(out), _) => std::fs::write(&out, text)?,
        (None, Some(committed)) => {
            let found = std::fs::read_to_string(&committed)?;
            if let Some(line) = first_difference(&found, &text) {
                anyhow::bail!(
                    "{} differs from what the code generates (first at line {line}); run `make openapi` and commit it",
                    committed.display()
                );
            }
        }
        (None, None) => print!("{text}"),
    }
    Ok(())
}

/// The first line (1-based) where `a` and `b` differ, if they do.
fn first_difference(a: &str, b: &str) -> Option<usize> {
    if a == b {
        return None;
    }
    let mut lines = a.lines().zip(b.lines()).enumerate();
    Some(
        lines
            .find(|(_, (x, y))| x != y)
            .map(|(i, _)| i + 1)
            .unwrap_or_else(|| a.lines().count().min(b.lines().count()) + 1),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use echoflow_gateway::openapi::rules;

    /// Operations anyone may call with no credentials at all, and why.
    const ANONYMOUS: [(&str, &str); 6] = [
        ("registerUser", "signing up"),
        ("issueToken", "signing in"),
        (
            "refreshToken",
            "the refresh token in the body is the credential",
        ),
        ("listNodeTypes", "the node catalogue is public"),
        (
            "receiveWebhook",
            "the 64-hex token in the path is the secret; a trigger may also require a signature",
        ),
        (
            "completeIntegrationConnect",
            "the OAuth provider sends the browser here; the one-time state is the credential",
        ),
    ];

    #[test]
    fn the_committed_contract_is_what_the_code_generates() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        let generated = render().unwrap();
        if let Some(line) = first_difference(&committed, &generated) {
            let show = |text: &str| text.lines().nth(line - 1).unwrap_or("<end>").to_string();
            panic!(
                "docs/openapi.json differs from what the code generates, first at line {line}:\n  committed: {}\n  generated: {}\nRun `make openapi` and commit docs/openapi.json.",
                show(&committed),
                show(&generated)
            );
        }
    }

    #[test]
    fn every_operation_keeps_the_contract_rules() {
        let faults = rules::faults(&document());
        assert!(
            faults.is_empty(),
            "{} faults:\n{}",
            faults.len(),
            faults.join("\n")
        );
    }

    #[test]
    fn only_the_known_public_operations_need_no_credentials() {
        let doc = document();
        let anonymous: Vec<String> = rules::operations(&doc)
            .iter()
            .filter(|op| op.is_anonymous())
            .map(|op| op.operation_id().unwrap_or("?").to_string())
            .collect();
        let mut expected: Vec<String> = ANONYMOUS.iter().map(|(id, _)| id.to_string()).collect();
        let mut found = anonymous;
        expected.sort();
        found.sort();
        assert_eq!(
            found, expected,
            "an operation that needs no credentials must be listed in ANONYMOUS with the reason"
        );
    }

    #[test]
    fn the_document_is_printed_with_sorted_keys() {
        let text = render().unwrap();
        let top: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("  \"") && !l.starts_with("   "))
            .collect();
        let mut sorted = top.clone();
        sorted.sort();
        assert_eq!(top, sorted);
        assert!(top.len() >= 4, "{top:?}");
    }

    #[test]
    fn a_difference_is_located_by_line() {
        assert_eq!(first_difference("a\nb\n", "a\nb\n"), None);
        assert_eq!(first_difference("a\nb\n", "a\nc\n"), Some(2));
        assert_eq!(first_difference("a\n", "a\nb\n"), Some(2));
    }
}
