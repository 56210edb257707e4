//! Labels of the 用户 pages (zh default, en).

use crate::web::i18n::Lang;

/// Labels of the users pages.
pub struct UserLabels {
    pub title: &'static str,
    pub create: &'static str,
    pub username: &'static str,
    pub role: &'static str,
    pub team: &'static str,
    pub budget: &'static str,
    pub budget_hint: &'static str,
    pub period: &'static str,
    pub password: &'static str,
    pub password_hint: &'static str,
    pub new_password: &'static str,
    pub confirm_create: &'static str,
    pub spent: &'static str,
    pub keys: &'static str,
    pub status: &'static str,
    pub active: &'static str,
    pub disabled: &'static str,
    pub no_login: &'static str,
    pub disable: &'static str,
    pub enable: &'static str,
    pub confirm_delete: &'static str,
    pub empty: &'static str,
    pub back: &'static str,
}

const ZH: UserLabels = UserLabels {
    title: "用户",
    create: "创建用户",
    username: "用户名",
    role: "用户角色",
    team: "所属分组",
    budget: "个人预算",
    budget_hint: "美元，留空为不限",
    period: "预算周期",
    password: "初始密码",
    password_hint: "可选，至少 8 位；留空则该用户暂不能登录",
    new_password: "新密码",
    confirm_create: "确认创建",
    spent: "本期已用",
    keys: "密钥",
    status: "状态",
    active: "正常",
    disabled: "已停用",
    no_login: "未设密码",
    disable: "停用",
    enable: "启用",
    confirm_delete: "删除用户会同时删除其全部密钥，确定吗？",
    empty: "还没有用户。",
    back: "返回用户列表",
};

const EN: UserLabels = UserLabels {
    title: "Users",
    create: "Create user",
    username: "Username",
    role: "Role",
    team: "Team",
    budget: "Personal budget",
    budget_hint: "USD, empty = unlimited",
    period: "Budget period",
    password: "Initial password",
    password_hint: "Optional, at least 8 characters; empty = cannot log in yet",
    new_password: "New password",
    confirm_create: "Create",
    spent: "Spent this period",
    keys: "Keys",
    status: "Status",
    active: "Active",
    disabled: "Disabled",
    no_login: "No password",
    disable: "Disable",
    enable: "Enable",
    confirm_delete: "Deleting a user also deletes all their keys. Continue?",
    empty: "No users yet.",
    back: "Back to users",
};

/// Labels for `lang`.
pub fn labels(lang: Lang) -> &'static UserLabels {
    lang.pick(&ZH, &EN)
}
