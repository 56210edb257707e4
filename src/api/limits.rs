//! `rpm_limit` / `tpm_limit` on `/key/generate|update` and `/team/new|update`: parsed
//! and checked before the entity is written, stored right after it, shown in answers.

use serde::Deserialize;
use serde_json::Value;

use super::double_option;
use crate::app::AppState;
use crate::db::limits::{self, LimitOwner};
use crate::domain::actor::Actor;
use crate::error::AppError;

/// The two optional fields of a request body.
#[derive(Debug, Default, Deserialize)]
pub struct LimitFields {
    #[serde(default, deserialize_with = "double_option")]
    rpm_limit: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    tpm_limit: Option<Option<i64>>,
}

impl LimitFields {
    /// Refuses negative values, and limits set by anyone but an admin.
    pub fn check(&self, actor: &Actor) -> Result<(), AppError> {
        let given = self.rpm_limit.is_some() || self.tpm_limit.is_some();
        if given && !actor.is_admin() {
            return Err(AppError::Forbidden(
                "only an admin may set rpm_limit or tpm_limit".into(),
            ));
        }
        for (name, v) in [("rpm_limit", self.rpm_limit), ("tpm_limit", self.tpm_limit)] {
            if v.flatten().is_some_and(|v| v < 1) {
                return Err(AppError::invalid(
                    format!("{name} must be a whole number of at least 1, or null"),
                    Some(name),
                ));
            }
        }
        Ok(())
    }

    /// Stores the limits given, then refreshes the gateway.
    pub async fn store(self, state: &AppState, owner: LimitOwner) -> Result<(), AppError> {
        if self.rpm_limit.is_none() && self.tpm_limit.is_none() {
            return Ok(());
        }
        let (rpm, tpm) = (self.rpm_limit, self.tpm_limit);
        state
            .write(move |c| limits::set(c, owner, rpm, tpm).map_err(crate::db::DbError::from))
            .await?;
        Ok(())
    }
}

/// Adds `rpm_limit` / `tpm_limit` of the key with this token to its JSON.
pub fn add_key_limits(state: &AppState, json: &mut Value) {
    let snap = state.directory.snapshot();
    let Some(token) = json.get("token").and_then(Value::as_str) else {
        return;
    };
    let key = snap.keys.get(token).cloned();
    if let (Some(k), Some(map)) = (key, json.as_object_mut()) {
        map.insert("rpm_limit".into(), k.rpm.into());
        map.insert("tpm_limit".into(), k.tpm.into());
    }
}

/// Adds `rpm_limit` / `tpm_limit` of the team with this row id to its JSON.
pub fn add_team_limits(state: &AppState, id: i64, json: &mut Value) {
    let snap = state.directory.snapshot();
    if let (Some(t), Some(map)) = (snap.teams.get(&id).cloned(), json.as_object_mut()) {
        map.insert("rpm_limit".into(), t.rpm.into());
        map.insert("tpm_limit".into(), t.tpm.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Body {
        #[allow(dead_code)]
        key_alias: String,
        #[serde(flatten)]
        limits: LimitFields,
    }

    #[test]
    fn limits_flatten_into_request_bodies() {
        let b: Body =
            serde_json::from_str(r#"{"key_alias":"a","rpm_limit":5,"tpm_limit":null}"#).unwrap();
        assert_eq!(b.limits.rpm_limit, Some(Some(5)));
        assert_eq!(b.limits.tpm_limit, Some(None));
        let b: Body = serde_json::from_str(r#"{"key_alias":"a"}"#).unwrap();
        assert_eq!(b.limits.rpm_limit, None);
    }
}
