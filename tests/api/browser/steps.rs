//! The walkthrough's steps, one method each, in the order of demo-script.zh.md.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::Walk;
use crate::helpers::*;

/// 演示内容4: the four models and the walkthrough's prompts.
pub const WALKTHROUGH_CALLS: [(&str, &str); 4] = [
    ("gpt-4o", "你好，请用一句话介绍你自己"),
    ("claude-3-5-sonnet", "什么是人工智能？"),
    ("gemini-pro", "写一首关于春天的诗"),
    ("mistral-large", "1+1等于几？"),
];

/// SPEC §7: the columns of a team export with scope daily.
const TEAM_DAILY_COLUMNS: &str = "Date,Team,Entity ID,Spend ($),Requests,Successful Requests,Failed Requests,Total Tokens,Prompt Tokens,Completion Tokens";

impl Walk<'_> {
    /// 演示内容1: 登录平台.
    pub(super) async fn login(&mut self) {
        self.open("/login").await;
        self.snap("login").await;
        self.fill("用户名", "admin").await;
        self.fill("密码", ADMIN_PASSWORD).await;
        self.click("登录").await;
        self.wait_for("//nav[contains(@class,'sidebar')]").await;
        self.snap("home").await;
    }

    /// 演示内容2: 创建分组 研发部门, 100 美元, 月.
    pub(super) async fn create_team(&mut self) {
        self.nav("分组").await;
        self.open_panel("创建分组").await;
        self.fill("分组名称", "研发部门").await;
        self.fill("分组预算", "100").await;
        self.choose("预算周期", "月").await;
        self.snap("teams-create").await;
        self.click("确认创建").await;
        let remaining = "//tr[@data-team='研发部门']/td[@data-col='remaining']";
        assert_eq!(self.browser.text_at(remaining).await, "$100.00");
        self.snap("teams").await;
    }

    /// 演示内容2: 创建用户 zhangsan (20) and lisi (30), 普通用户 in 研发部门.
    pub(super) async fn create_users(&mut self) {
        self.nav("用户").await;
        for (name, budget) in [("zhangsan", "20"), ("lisi", "30")] {
            self.open_panel("创建用户").await;
            self.fill("用户名", name).await;
            self.choose("用户角色", "普通用户").await;
            self.choose("所属分组", "研发部门").await;
            self.fill("个人预算", budget).await;
            if name == "zhangsan" {
                self.snap("users-create").await;
            }
            self.click("确认创建").await;
            let row = format!("//tr[@data-user='{name}']/td[@data-col='budget']");
            assert_eq!(self.browser.text_at(&row).await, format!("${budget}.00"));
        }
        self.snap("users").await;
    }

    /// 演示内容3: 生成密钥 for both users; returns zhangsan's key as the page shows it.
    pub(super) async fn generate_keys(&mut self) -> String {
        self.nav("API密钥").await;
        let mut first = None;
        for (user, budget) in [("zhangsan", "20"), ("lisi", "30")] {
            let alias = format!("{user}-dev-key");
            self.open_panel("生成密钥").await;
            self.fill("密钥别名", &alias).await;
            self.choose("关联用户", user).await;
            self.choose("关联分组", "研发部门").await;
            self.fill("预算限制", budget).await;
            self.pick("模型选择", "全部模型").await;
            self.choose("有效期", "永久").await;
            if first.is_none() {
                self.snap("keys-create").await;
            }
            self.click("生成").await;
            let secret = format!(
                "//section[h2[contains(., '密钥已生成') and contains(., '{alias}')]]//code"
            );
            let key = self.browser.text_at(&secret).await;
            assert!(key.starts_with("sk-") && key.len() >= 35, "{key}");
            if first.is_none() {
                self.snap("key-generated").await;
                first = Some(key);
            }
        }
        self.snap("keys").await;
        first.unwrap()
    }

    /// 分组剩余预算为 100 - 20 - 30 = 50 美元.
    pub(super) async fn team_has_50_left(&mut self) {
        self.nav("分组").await;
        let remaining = "//tr[@data-team='研发部门']/td[@data-col='remaining']";
        assert_eq!(self.browser.text_at(remaining).await, "$50.00");
        self.snap("teams-remaining").await;
    }

    /// 演示内容5: 用量分析 实时视图 shows the four calls, then a fifth without a reload.
    pub(super) async fn live_usage_changes(&mut self, key: &str) {
        self.app.flush_ledger().await;
        self.nav("用量分析").await;
        self.click("实时视图").await;
        let requests = "//div[contains(@class,'stat')][div[normalize-space()='总请求次数']]/div[contains(@class,'value')]";
        self.wait_text(requests, 5, |t| t == "4").await;
        for model in WALKTHROUGH_CALLS.map(|c| c.0) {
            let row = format!("//table[@id='by-model']//td[normalize-space()='{model}']");
            self.wait_for(&row).await;
        }
        self.snap("usage-live").await;
        let reload_marker = "window.__sameDocument = true;";
        self.browser.execute(reload_marker).await;
        let resp = self.app.chat(key, &chat_body("gpt-4o", "再来一次")).await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        self.wait_text(requests, 15, |t| t == "5").await;
        let gpt4o = "//table[@id='by-model']//tr[td[1][normalize-space()='gpt-4o']]/td[3]";
        self.wait_text(gpt4o, 15, |t| t == "2").await;
        let same = self
            .browser
            .execute("return window.__sameDocument === true;")
            .await;
        assert_eq!(same, true, "the live view reloaded the page");
        self.snap("usage-live-updated").await;
    }

    /// 请求日志: the list, then one request's page.
    pub(super) async fn logs_and_one_detail(&mut self) {
        self.nav("请求日志").await;
        let first = "//table[@id='logs']/tbody/tr[1]/td[2]/a";
        let id = self.browser.text_at(first).await;
        self.snap("logs").await;
        self.browser.click_at(first).await;
        let shown = format!("//dd[normalize-space()='{id}']");
        self.wait_for(&shown).await;
        self.wait_for("//dd[contains(., 'zhangsan-dev-key')]").await;
        self.snap("log-detail").await;
    }

    /// 演示内容6: 导出 from /usage, 本月, 按天汇总, CSV then JSON.
    pub(super) async fn export_csv_and_json(&mut self) {
        self.nav("用量分析").await;
        for format in ["CSV", "JSON"] {
            self.click("导出").await;
            self.wait_for("//dialog[@open]").await;
            self.choose("日期范围", "本月").await;
            self.pick("导出对象", "分组").await;
            self.pick("导出范围", "daily（按天汇总）").await;
            self.pick("导出格式", format).await;
            if format == "CSV" {
                self.snap("export-dialog").await;
            }
            self.click("确认导出").await;
            let ext = format.to_lowercase();
            let file = self.downloaded(&ext).await;
            self.check_export(&file, &ext);
        }
    }

    /// Waits for a finished download ending in `.ext`.
    async fn downloaded(&self, ext: &str) -> PathBuf {
        let dir = self.browser.downloads.clone();
        let what = format!("a downloaded .{ext} file");
        self.browser
            .wait_for(&what, Duration::from_secs(20), || {
                let dir = dir.clone();
                async move {
                    std::fs::read_dir(&dir)
                        .ok()?
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .find(|p| p.extension().is_some_and(|x| x == ext))
                }
            })
            .await
    }

    /// The file holds 研发部门's row for today with all the spend of its keys.
    fn check_export(&self, file: &std::path::Path, ext: &str) {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let suffix = format!("-daily.{ext}");
        assert!(
            name.starts_with("team-usage-") && name.ends_with(&suffix),
            "{name}"
        );
        let bytes = std::fs::read(file).unwrap();
        let spend = self.app.query_i64("SELECT SUM(cost) FROM request_logs");
        let spend = tollgate::money::Nanos(spend).format_usd(6);
        let today = self.today();
        if ext == "csv" {
            assert!(bytes.starts_with("\u{feff}".as_bytes()), "no BOM");
            let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
            let mut lines = text.split("\r\n");
            assert_eq!(lines.next(), Some(TEAM_DAILY_COLUMNS));
            let row = lines
                .find(|l| l.starts_with(&format!("{today},研发部门,")))
                .expect("today's row");
            let cells: Vec<&str> = row.split(',').collect();
            assert_eq!(
                (cells[3], cells[4], cells[5]),
                (spend.as_str(), "5", "5"),
                "{row}"
            );
        } else {
            let rows: Value = serde_json::from_slice(&bytes).unwrap();
            let row = rows
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["Date"] == today && r["Team"] == "研发部门")
                .expect("today's row");
            assert_eq!(format!("{:.6}", row["Spend ($)"].as_f64().unwrap()), spend);
            assert_eq!(row["Requests"], 5);
        }
    }

    /// Today in the server's report time zone.
    fn today(&self) -> String {
        let offset = self.app.state.config.server.utc_offset;
        (chrono::Utc::now() + chrono::Duration::seconds(i64::from(offset.seconds)))
            .date_naive()
            .to_string()
    }

    /// 密钥调试: 检查密钥, then 发送测试消息.
    pub(super) async fn test_key(&mut self, key: &str) {
        self.nav("密钥调试").await;
        self.fill("API 密钥", key).await;
        self.click("检查密钥").await;
        self.wait_for("//div[contains(@class,'alert-ok')][contains(., '此密钥当前可用')]")
            .await;
        self.snap("test-key-check").await;
        self.fill("API 密钥", key).await;
        self.click("发送测试消息").await;
        let status = "//div[contains(@class,'stat')][div[normalize-space()='HTTP']]/div[contains(@class,'value')]";
        assert_eq!(self.browser.text_at(status).await, "200");
        self.wait_for("//h2[normalize-space()='回复']").await;
        self.snap("test-key-send").await;
    }
}
