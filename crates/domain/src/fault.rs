//! A fault found in a workflow graph or its configuration: where (a JSON
//! path) and what. Its own module because both the graph checks and the
//! expression sandbox report faults, and the graph checks call the sandbox.

use serde::Serialize;

/// One thing wrong with a definition, and where: `nodes[2].data.config.url`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GraphFault {
    pub path: String,
    pub message: String,
}

impl GraphFault {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for GraphFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}
