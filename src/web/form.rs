//! Form bodies read as name/value pairs, so repeated fields (the model checkboxes)
//! survive: serde's url-encoded structs keep only one value per name. Also how a
//! refused form is told apart from a page error.

use crate::domain::DomainError;
use crate::error::PageError;

/// The fields of a posted form, in order.
#[derive(Debug, Clone, Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// The first value of `name`, trimmed, if not empty.
    pub fn opt(&self, name: &str) -> Option<String> {
        Some(self.get(name).trim().to_string()).filter(|v| !v.is_empty())
    }

    /// Every non-empty value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }

    /// The chosen models: none (= all) unless `models_mode` is `list`.
    pub fn models(&self) -> Vec<String> {
        if self.get("models_mode") == "list" {
            self.all("models")
        } else {
            Vec::new()
        }
    }
}

/// A refusal to show inline beside the form (bad input, a clash, an unknown id), or
/// the page error for everything else (forbidden, storage).
pub fn inline(e: DomainError) -> Result<String, PageError> {
    match e {
        DomainError::Validation { message, .. }
        | DomainError::Conflict(message)
        | DomainError::NotFound(message) => Ok(message),
        other => Err(PageError::from(other)),
    }
}
