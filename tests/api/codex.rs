//! Codex itself (npm `@openai/codex`, the version whose request is in
//! `shared/data/clients/`) against the gateway with the demo models, offline:
//! `codex exec` with a temporary `CODEX_HOME` whose `config.toml` points a
//! `[model_providers]` entry at the gateway (`wire_api = "responses"`, the key in
//! `env_key`). Once on the OpenAI deployment (passthrough), once on the Anthropic one
//! (translation). `.ci/run` installs the CLI into `target/cli-tools`.

use std::path::PathBuf;

use crate::helpers::*;

fn codex_bin() -> Option<PathBuf> {
    let bin =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/cli-tools/node_modules/.bin/codex");
    if bin.exists() {
        return Some(bin);
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI must have Codex (installed by .ci/run)"
    );
    eprintln!(
        "skipped: Codex is not installed (npm install --prefix target/cli-tools @openai/codex)"
    );
    None
}

async fn run_codex(bin: PathBuf, app: &TestApp, key: &str, model: &str) -> String {
    let home = tempfile::tempdir().unwrap();
    let config = format!(
        "model = \"{model}\"\nmodel_provider = \"tollgate\"\n\n[model_providers.tollgate]\nname = \"Tollgate\"\n\
         base_url = \"{}/v1\"\nenv_key = \"TOLLGATE_KEY\"\nwire_api = \"responses\"\nsupports_websockets = false\n",
        app.url
    );
    std::fs::write(home.path().join("config.toml"), config).unwrap();
    let (key, home_path) = (key.to_string(), home.path().to_path_buf());
    let out = actix_web::rt::task::spawn_blocking(move || {
        std::process::Command::new(bin)
            .args([
                "exec",
                "--skip-git-repo-check",
                "Say hello in one short sentence.",
            ])
            .current_dir(&home_path)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home_path)
            .env("CODEX_HOME", &home_path)
            .env("TOLLGATE_KEY", &key)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("codex runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "codex failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[actix_web::test]
async fn codex_runs_through_the_gateway_on_openai_and_on_anthropic() {
    let Some(bin) = codex_bin() else { return };
    let app = spawn_app().await;
    let key = app.key("codex").await;
    let out = run_codex(bin.clone(), &app, &key, "gpt-4o").await;
    assert!(out.contains("simulated openai"), "{out}");
    let out = run_codex(bin, &app, &key, "claude-3-5-sonnet").await;
    assert!(out.contains("simulated anthropic"), "{out}");
    app.flush_ledger().await;
    let rows = app.query_text(
        "SELECT group_concat(model || '|' || call_type, ',') FROM (SELECT DISTINCT model, call_type FROM request_logs WHERE success = 1 ORDER BY model)",
    );
    assert_eq!(rows, "claude-3-5-sonnet|aresponses,gpt-4o|aresponses");
    assert!(
        app.query_i64("SELECT SUM(cost) FROM request_logs") > 0,
        "the key is charged"
    );
    assert!(app
        .query_text("SELECT user_agent FROM request_logs LIMIT 1")
        .starts_with("codex_exec/"));
}
