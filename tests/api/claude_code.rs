//! Claude Code itself (npm `@anthropic-ai/claude-code`, the version whose request is in
//! `shared/data/clients/`) against the gateway with the demo models, offline: `claude -p`
//! with a temporary HOME, `ANTHROPIC_BASE_URL` and `ANTHROPIC_AUTH_TOKEN`. Once with its
//! model ids routed to the Anthropic deployment (passthrough), once with the same ids
//! aliased to an OpenAI one (translation). `.ci/run` installs the CLI into
//! `target/cli-tools`; elsewhere the test says why it skips.

use std::path::PathBuf;

use crate::helpers::*;

/// The installed `claude`, if any (on CI its absence fails the test).
fn claude_bin() -> Option<PathBuf> {
    let bin =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/cli-tools/node_modules/.bin/claude");
    if bin.exists() {
        return Some(bin);
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI must have Claude Code (installed by .ci/run)"
    );
    eprintln!("skipped: Claude Code is not installed (npm install --prefix target/cli-tools @anthropic-ai/claude-code)");
    None
}

/// Runs `claude -p prompt --model model` against `app` with `key`; returns stdout.
async fn run_claude(bin: PathBuf, app: &TestApp, key: &str, model: &str) -> String {
    let home = tempfile::tempdir().unwrap();
    let (url, key, model, home_path) = (
        app.url.clone(),
        key.to_string(),
        model.to_string(),
        home.path().to_path_buf(),
    );
    let out = actix_web::rt::task::spawn_blocking(move || {
        std::process::Command::new(bin)
            .args(["-p", "Say hello in one short sentence.", "--model", &model])
            .current_dir(&home_path)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home_path)
            .env("ANTHROPIC_BASE_URL", &url)
            .env("ANTHROPIC_AUTH_TOKEN", &key)
            .env("DISABLE_TELEMETRY", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("claude runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "claude failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[actix_web::test]
async fn claude_code_runs_through_the_gateway_on_anthropic_and_on_openai() {
    let Some(bin) = claude_bin() else { return };
    let app = spawn_app().await;
    let key = app.key("claude-code").await;
    let out = run_claude(bin.clone(), &app, &key, "claude-sonnet-4-5-20250929").await;
    assert!(out.contains("simulated anthropic"), "{out}");
    app.flush_ledger().await;
    let rows = app.query_text(
        "SELECT group_concat(DISTINCT model || '|' || call_type || '|' || substr(user_agent, 1, 10)) FROM request_logs WHERE success = 1",
    );
    assert_eq!(
        rows, "claude-3-5-sonnet|anthropic_messages|claude-cli",
        "{rows}"
    );
    assert!(
        app.query_i64("SELECT SUM(cost) FROM request_logs") > 0,
        "the key is charged"
    );

    // The same ids aliased to an OpenAI deployment: Claude Code on another provider.
    let app = spawn_app_with(|c| {
        let claude = c
            .models
            .iter_mut()
            .find(|m| m.name == "claude-3-5-sonnet")
            .unwrap();
        let aliases = std::mem::take(&mut claude.aliases);
        c.models
            .iter_mut()
            .find(|m| m.name == "gpt-4o")
            .unwrap()
            .aliases = aliases;
    })
    .await;
    let key = app.key("claude-code").await;
    let out = run_claude(bin, &app, &key, "claude-sonnet-4-5-20250929").await;
    assert!(out.contains("simulated openai"), "{out}");
    app.flush_ledger().await;
    let rows =
        app.query_text("SELECT group_concat(DISTINCT model) FROM request_logs WHERE success = 1");
    assert_eq!(rows, "gpt-4o");
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM request_logs WHERE success = 0"),
        0,
        "no turn failed"
    );
}
