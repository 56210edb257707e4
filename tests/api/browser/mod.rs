//! The walkthrough (../shared/docs/demo-script.zh.md) in a real headless Chromium,
//! clicking the labels a presenter clicks. Every page visited is saved as a PNG in
//! `screenshots/` at the repository root, and checked: no SEVERE console message, and
//! the page and every asset it loaded answer below 400.
//!
//! In CI (`CI=true`) a missing chromium/chromedriver is a failure; elsewhere the test
//! prints why it is skipped.

mod steps;
mod webdriver;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;
use webdriver::{Browser, Element, Executables};

/// What a presenter sees and clicks; the test drives the browser through these.
struct Walk<'a> {
    app: &'a TestApp,
    browser: Browser,
    shots: PathBuf,
    shot_no: u32,
}

#[actix_web::test]
async fn the_walkthrough_works_in_a_real_browser() {
    let Some(exe) = executables_or_skip() else {
        return;
    };
    let app = spawn_app().await;
    let downloads = tempfile::tempdir().unwrap();
    let browser = Browser::start(&exe, downloads.path()).await;
    let mut walk = Walk::new(&app, browser);

    walk.login().await;
    walk.create_team().await;
    walk.create_users().await;
    let key = walk.generate_keys().await;
    walk.team_has_50_left().await;
    for (model, prompt) in steps::WALKTHROUGH_CALLS {
        let resp = app.chat(&key, &chat_body(model, prompt)).await;
        assert_eq!(resp.status, 200, "{model}: {}", resp.body);
    }
    walk.live_usage_changes(&key).await;
    walk.logs_and_one_detail().await;
    walk.export_csv_and_json().await;
    walk.test_key(&key).await;
}

/// The two executables, or `None` (with the reason printed) outside CI.
fn executables_or_skip() -> Option<Executables> {
    match Executables::find() {
        Ok(exe) => Some(exe),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but the browser test cannot run: {why}")
        }
        Err(why) => {
            eprintln!("skipping the browser test: {why}");
            None
        }
    }
}

impl<'a> Walk<'a> {
    fn new(app: &'a TestApp, browser: Browser) -> Walk<'a> {
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Walk {
            app,
            browser,
            shots,
            shot_no: 0,
        }
    }

    /// Opens a path of the app.
    async fn open(&self, path: &str) {
        self.browser.goto(&format!("{}{path}", self.app.url)).await;
    }

    /// Clicks the sidebar entry named `label`.
    async fn nav(&self, label: &str) {
        let xpath = format!("//nav[contains(@class,'sidebar')]//a[normalize-space()='{label}']");
        self.browser.click_at(&xpath).await;
    }

    /// Clicks the button, link or panel heading whose visible text is `label`.
    async fn click(&self, label: &str) {
        self.browser.click_at(&clickable(label)).await;
    }

    /// Opens the `<details>` panel whose heading is `label`, unless it is open already.
    async fn open_panel(&self, label: &str) {
        let summary = format!("//details/summary[normalize-space()='{label}']");
        let open = format!("{summary}/parent::details[@open]");
        self.browser.find(&summary).await;
        if self.browser.find_all(&open).await.is_empty() {
            self.browser.click_at(&summary).await;
        }
        self.browser.find(&format!("{open}//form")).await;
    }

    /// Types into the field labelled `label`.
    async fn fill(&self, label: &str, text: &str) {
        let field = self.browser.find(&field(label)).await;
        self.browser.type_into(&field, text).await;
    }

    /// Chooses `option` in the menu labelled `label`.
    async fn choose(&self, label: &str, option: &str) {
        let xpath = format!("{}/option[normalize-space()='{option}']", field(label));
        self.browser.click_at(&xpath).await;
    }

    /// Ticks the radio `choice` in the group whose legend is `legend`.
    async fn pick(&self, legend: &str, choice: &str) {
        let xpath = format!(
            "//fieldset[legend[normalize-space()='{legend}']]//label[normalize-space()='{choice}']//input"
        );
        self.browser.click_at(&xpath).await;
    }

    /// Waits until `xpath` is on the page (after a click that navigates).
    async fn wait_for(&self, xpath: &str) -> Element {
        self.browser.find(xpath).await
    }

    /// Screenshots the page as `NN-name.png` and fails on console errors or broken assets.
    async fn snap(&mut self, name: &str) {
        self.shot_no += 1;
        let file = self.shots.join(format!("{:02}-{name}.png", self.shot_no));
        self.browser.screenshot(&file).await;
        let url = self.browser.url().await;
        let errors: Vec<Value> = self
            .browser
            .console_log()
            .await
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .collect();
        assert!(errors.is_empty(), "console errors on {url}: {errors:#?}");
        let report = self.browser.execute(ASSET_CHECK).await;
        let bad = report["bad"].as_array().cloned().unwrap_or_default();
        assert!(bad.is_empty(), "failed loads on {url}: {bad:?}");
        assert!(
            report["checked"].as_array().is_some_and(|c| !c.is_empty()),
            "no assets seen on {url}: {report}"
        );
    }

    /// Polls the text of `xpath` until `done` holds, up to `secs` seconds.
    async fn wait_text(&self, xpath: &str, secs: u64, done: impl Fn(&str) -> bool) -> String {
        let what = format!("{xpath} to change");
        self.browser
            .wait_for(&what, Duration::from_secs(secs), || async {
                let text = self.browser.text_now(xpath).await?;
                done(&text).then_some(text)
            })
            .await
    }
}

/// A button, link or panel heading by its visible text.
fn clickable(label: &str) -> String {
    format!("//*[self::button or self::a or self::summary][normalize-space()='{label}']")
}

/// The input or menu inside the `<label>` whose own text is `label`.
fn field(label: &str) -> String {
    format!("//label[normalize-space(text()[1])='{label}']//*[self::input or self::select]")
}

/// Checks the document and every asset it referenced or loaded; returns
/// `{checked: [urls], bad: [[url, status]]}`.
const ASSET_CHECK: &str = r#"
return (async () => {
  const urls = new Set();
  for (const e of document.querySelectorAll('link[href], script[src], img[src]')) {
    const u = e.href || e.src;
    if (u && !u.startsWith('data:')) { urls.add(u); }
  }
  for (const e of performance.getEntriesByType('resource')) {
    if (!e.name.startsWith('data:')) { urls.add(e.name); }
  }
  const bad = [];
  const nav = performance.getEntriesByType('navigation')[0];
  if (nav && nav.responseStatus >= 400) { bad.push([location.href, nav.responseStatus]); }
  for (const u of urls) {
    try {
      const r = await fetch(u, { cache: 'no-store', credentials: 'same-origin' });
      if (r.status >= 400) { bad.push([u, r.status]); }
    } catch (err) { bad.push([u, String(err)]); }
  }
  return { checked: [...urls], bad: bad };
})();
"#;
