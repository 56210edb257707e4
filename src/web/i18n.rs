//! Page labels in Simplified Chinese (default) and English. Shell labels live here;
//! each page keeps its own label struct beside its handler, built the same way.

pub use crate::domain::lang::Lang;

/// Labels of the page shell (navigation, header, common buttons).
#[derive(Debug)]
pub struct ShellLabels {
    pub product: &'static str,
    pub nav_usage: &'static str,
    pub nav_keys: &'static str,
    pub nav_teams: &'static str,
    pub nav_users: &'static str,
    pub nav_logs: &'static str,
    pub nav_test_key: &'static str,
    pub nav_models: &'static str,
    pub logout: &'static str,
    pub signed_in_as: &'static str,
    pub not_available: &'static str,
    pub save: &'static str,
    pub cancel: &'static str,
    pub delete: &'static str,
    pub edit: &'static str,
    pub actions: &'static str,
    pub none: &'static str,
    pub role_proxy_admin: &'static str,
    pub role_internal_user: &'static str,
    pub role_internal_user_viewer: &'static str,
}

const ZH: ShellLabels = ShellLabels {
    product: "Tollgate 模型网关",
    nav_usage: "用量分析",
    nav_keys: "API密钥",
    nav_teams: "分组",
    nav_users: "用户",
    nav_logs: "请求日志",
    nav_test_key: "密钥调试",
    nav_models: "模型",
    logout: "退出",
    signed_in_as: "当前用户",
    not_available: "此功能尚未开放。",
    save: "保存",
    cancel: "取消",
    delete: "删除",
    edit: "编辑",
    actions: "操作",
    none: "无",
    role_proxy_admin: "管理员",
    role_internal_user: "普通用户",
    role_internal_user_viewer: "只读用户",
};

const EN: ShellLabels = ShellLabels {
    product: "Tollgate AI Gateway",
    nav_usage: "Usage",
    nav_keys: "API Keys",
    nav_teams: "Teams",
    nav_users: "Users",
    nav_logs: "Request Logs",
    nav_test_key: "Key Debugger",
    nav_models: "Models",
    logout: "Log out",
    signed_in_as: "Signed in as",
    not_available: "This feature is not available yet.",
    save: "Save",
    cancel: "Cancel",
    delete: "Delete",
    edit: "Edit",
    actions: "Actions",
    none: "None",
    role_proxy_admin: "Admin",
    role_internal_user: "Internal user",
    role_internal_user_viewer: "Read-only user",
};

/// Shell labels for `lang`.
pub fn shell(lang: Lang) -> &'static ShellLabels {
    lang.pick(&ZH, &EN)
}

/// The role's display name.
pub fn role_label(lang: Lang, role: crate::domain::auth::Role) -> &'static str {
    use crate::domain::auth::Role;
    let t = shell(lang);
    match role {
        Role::ProxyAdmin => t.role_proxy_admin,
        Role::InternalUser => t.role_internal_user,
        Role::InternalUserViewer => t.role_internal_user_viewer,
    }
}
