//! A tiny W3C WebDriver client on top of `awc`: starts `chromedriver` on a free port,
//! opens one headless Chromium session, and offers the handful of commands the browser
//! test needs (navigate, find by XPath, click, type, read text, run JS, screenshot,
//! console log). Dropping the [`Browser`] ends the session and kills chromedriver.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The key W3C uses for an element reference in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long `find` waits for an element to appear.
const FIND_TIMEOUT: Duration = Duration::from_secs(10);

/// The Chromium and chromedriver executables to use.
pub struct Executables {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

impl Executables {
    /// Finds both on `PATH`; `Err` says which one is missing.
    pub fn find() -> Result<Executables, String> {
        let chromium = ["chromium", "chromium-browser"]
            .iter()
            .find_map(|name| on_path(name))
            .ok_or("chromium is not installed (apt-get install chromium)")?;
        let chromedriver = on_path("chromedriver")
            .ok_or("chromedriver is not installed (apt-get install chromium-driver)")?;
        Ok(Executables {
            chromium,
            chromedriver,
        })
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// One element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

/// A headless Chromium driven over WebDriver.
pub struct Browser {
    http: awc::Client,
    /// `http://127.0.0.1:PORT/session/ID`
    session: String,
    driver_port: u16,
    session_id: String,
    driver: Child,
    /// Where downloads land.
    pub downloads: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a session.
    pub async fn start(exe: &Executables, downloads: &Path) -> Browser {
        let port = free_port();
        let driver = Command::new(&exe.chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = awc::Client::builder()
            .timeout(Duration::from_secs(90))
            .finish();
        let base = format!("http://127.0.0.1:{port}");
        wait_until_ready(&http, &base).await;
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = capabilities(&exe.chromium, profile.path(), downloads);
        let mut resp = http
            .post(format!("{base}/session"))
            .send_json(&json!({"capabilities": {"alwaysMatch": caps}}))
            .await
            .expect("new session request");
        let body: Value = resp.json().limit(1 << 20).await.expect("session json");
        let session_id = body["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {body}"))
            .to_string();
        Browser {
            http,
            session: format!("{base}/session/{session_id}"),
            driver_port: port,
            session_id,
            driver,
            downloads: downloads.to_path_buf(),
            _profile: profile,
        }
    }

    /// Runs a Chromium DevTools command (chromedriver passes it through).
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        let body = json!({"cmd": cmd, "params": params});
        self.cmd("POST", "/goog/cdp/execute", body).await
    }

    /// Sends one command; panics with WebDriver's message on an error.
    pub async fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        self.try_cmd(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Sends one command; `Err` holds WebDriver's error (e.g. a stale element while the
    /// page is being replaced).
    pub async fn try_cmd(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        let url = format!("{}{path}", self.session);
        let sent = match method {
            "GET" => self.http.get(&url).send().await,
            _ => self.http.post(&url).send_json(&body).await,
        };
        let mut resp = sent.map_err(|e| format!("{method} {path}: {e}"))?;
        let value: Value = resp
            .json()
            .limit(64 << 20)
            .await
            .map_err(|e| format!("{method} {path}: bad JSON: {e}"))?;
        if !resp.status().is_success() {
            let v = &value["value"];
            return Err(format!(
                "{method} {path} {body}: {} {}",
                v["error"], v["message"]
            ));
        }
        Ok(value["value"].clone())
    }

    /// Navigates and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({"url": url})).await;
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        let v = self.cmd("GET", "/url", Value::Null).await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// The first element matching `xpath`, waiting for it to appear.
    pub async fn find(&self, xpath: &str) -> Element {
        self.wait_for(xpath, FIND_TIMEOUT, || async {
            self.find_all(xpath).await.into_iter().next()
        })
        .await
    }

    /// Every element matching `xpath` now, without waiting.
    pub async fn find_all(&self, xpath: &str) -> Vec<Element> {
        let found = self
            .cmd(
                "POST",
                "/elements",
                json!({"using": "xpath", "value": xpath}),
            )
            .await;
        found
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[ELEMENT_KEY].as_str())
            .map(|id| Element(id.to_string()))
            .collect()
    }

    /// Clicks an element.
    pub async fn click(&self, el: &Element) {
        let path = format!("/element/{}/click", el.0);
        self.cmd("POST", &path, json!({})).await;
    }

    /// Finds `xpath` and clicks it.
    pub async fn click_at(&self, xpath: &str) {
        let el = self.find(xpath).await;
        self.click(&el).await;
    }

    /// Clears a field and types `text` into it.
    pub async fn type_into(&self, el: &Element, text: &str) {
        self.cmd("POST", &format!("/element/{}/clear", el.0), json!({}))
            .await;
        let path = format!("/element/{}/value", el.0);
        self.cmd("POST", &path, json!({"text": text})).await;
    }

    /// An element's rendered text.
    pub async fn text(&self, el: &Element) -> String {
        let v = self
            .cmd("GET", &format!("/element/{}/text", el.0), Value::Null)
            .await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// The text of the first element matching `xpath`.
    pub async fn text_at(&self, xpath: &str) -> String {
        let el = self.find(xpath).await;
        self.text(&el).await
    }

    /// The text of the first element matching `xpath` now, if there is one and it is
    /// still attached (for polling while a page changes).
    pub async fn text_now(&self, xpath: &str) -> Option<String> {
        let by = json!({"using": "xpath", "value": xpath});
        let found = self.try_cmd("POST", "/element", by).await.ok()?;
        let id = found[ELEMENT_KEY].as_str()?;
        let path = format!("/element/{id}/text");
        let text = self.try_cmd("GET", &path, Value::Null).await.ok()?;
        text.as_str().map(str::to_string)
    }

    /// Runs `script` (a function body; may return a Promise) and returns its result.
    pub async fn execute(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// Saves a PNG of the whole page, beyond the window's height (DevTools
    /// `Page.captureScreenshot`); just the window while a modal dialog is open, whose
    /// backdrop covers only the window.
    pub async fn screenshot(&self, path: &Path) {
        let size = self
            .execute(
                "const d = document.documentElement; \
                 return document.querySelector('dialog[open]') ? null : [d.scrollWidth, d.scrollHeight];",
            )
            .await;
        let png = if size.is_null() {
            self.cmd("GET", "/screenshot", Value::Null).await
        } else {
            let clip = json!({"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1});
            let params = json!({"format": "png", "captureBeyondViewport": true, "clip": clip});
            self.cdp("Page.captureScreenshot", params).await["data"].take()
        };
        let bytes = base64_decode(png.as_str().expect("screenshot is base64"));
        std::fs::write(path, bytes).expect("screenshot saved");
    }

    /// The browser console entries since the last call.
    pub async fn console_log(&self) -> Vec<Value> {
        let v = self
            .cmd("POST", "/se/log", json!({"type": "browser"}))
            .await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout`.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, timeout: Duration, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = check().await {
                return found;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Browser {
    /// Ends the session (so Chromium exits) with a plain blocking request, then kills
    /// chromedriver; runs on panics too.
    fn drop(&mut self) {
        let request = format!(
            "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.session_id, self.driver_port
        );
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.driver_port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
            let _ = stream.write_all(request.as_bytes());
            let _ = stream.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A port nobody listens on right now (the OS picks it).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

async fn wait_until_ready(http: &awc::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut resp) = http.get(format!("{base}/status")).send().await {
            let ready = resp
                .json::<Value>()
                .await
                .is_ok_and(|v| v["value"]["ready"] == true);
            if ready {
                return;
            }
        }
        assert!(Instant::now() < deadline, "chromedriver did not start");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

fn capabilities(chromium: &Path, profile: &Path, downloads: &Path) -> Value {
    json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1366,900",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {
                "download.default_directory": downloads,
                "download.prompt_for_download": false,
                "intl.accept_languages": "zh-CN,zh",
            },
        },
        "goog:loggingPrefs": {"browser": "ALL"},
    })
}

/// Standard base64 (the screenshot), without pulling in a crate for it.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let clean: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= u32::from(value(*c)) << (18 - 6 * i);
        }
        out.extend_from_slice(&acc.to_be_bytes()[1..chunk.len()]);
    }
    out
}

#[test]
fn base64_decodes_padded_and_unpadded_text() {
    assert_eq!(base64_decode("aGVsbG8="), b"hello");
    assert_eq!(base64_decode("aGk="), b"hi");
    assert_eq!(base64_decode("YWJj"), b"abc");
}
