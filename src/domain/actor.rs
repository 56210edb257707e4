//! Who performs an operation: the master key or a signed-in user, with their role and
//! the language refusals are written in. Every entity operation takes an [`Actor`] and
//! checks it here, so pages and the API enforce the same rules.

use super::auth::{Role, SessionUser};
use super::lang::Lang;
use super::DomainError;

/// The caller of a domain operation.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Recorded in the audit log: a username or `master_key`.
    pub name: String,
    /// The signed-in user; `None` for the master key.
    pub user_id: Option<i64>,
    /// What the actor may do (the master key counts as an admin).
    pub role: Role,
    /// Language of messages for this caller.
    pub lang: Lang,
}

impl Actor {
    /// The management API's master key (always English messages).
    pub fn master_key() -> Actor {
        Actor {
            name: "master_key".to_string(),
            user_id: None,
            role: Role::ProxyAdmin,
            lang: Lang::En,
        }
    }

    /// A signed-in user.
    pub fn user(user: &SessionUser, lang: Lang) -> Actor {
        Actor {
            name: user.username.clone(),
            user_id: Some(user.id),
            role: user.role,
            lang,
        }
    }

    /// True for admins and the master key.
    pub fn is_admin(&self) -> bool {
        self.role.is_admin()
    }

    /// Refuses everyone but admins.
    pub fn require_admin(&self) -> Result<(), DomainError> {
        if self.is_admin() {
            return Ok(());
        }
        Err(DomainError::Forbidden(self.lang.pick(
            "只有管理员可以执行此操作".to_string(),
            "only an admin (proxy_admin) may do this".to_string(),
        )))
    }

    /// Refuses read-only users.
    pub fn require_writer(&self) -> Result<(), DomainError> {
        if self.role == Role::InternalUserViewer {
            return Err(DomainError::Forbidden(self.lang.pick(
                "只读用户不能修改任何内容".to_string(),
                "a read-only user (internal_user_viewer) cannot change anything".to_string(),
            )));
        }
        Ok(())
    }

    /// Picks and formats a message in the actor's language.
    pub fn msg(&self, zh: String, en: String) -> String {
        self.lang.pick(zh, en)
    }
}
