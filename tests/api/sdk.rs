//! The official OpenAI Python SDK against the real server: a normal and a streaming
//! call for each of the walkthrough's models. CI installs the SDK (`.ci/run`); locally
//! the test is skipped, with a note, when `python3 -c "import openai"` fails.

use crate::helpers::*;

/// Runs `tests/sdk/{script}` with `args` and returns what it printed; fails the test
/// with its output when it fails.
async fn run_sdk_script(script: &str, args: Vec<String>) -> String {
    let path = format!("{}/tests/sdk/{script}", env!("CARGO_MANIFEST_DIR"));
    let output = actix_web::web::block(move || {
        std::process::Command::new("python3")
            .arg(path)
            .args(&args)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "SDK run failed:
{stdout}
{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Whether the Python module is installed; in CI it must be (`.ci/run` installs it).
fn sdk_ready(module: &str) -> bool {
    let present = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !present {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have the Python package {module} (installed by .ci/run)"
        );
        eprintln!("skipped: the Python package {module} is not installed (pip install {module})");
    }
    present
}

#[actix_web::test]
async fn the_openai_python_sdk_works_for_every_model() {
    if !sdk_ready("openai") {
        return;
    }
    let app = spawn_app().await;
    let key = app
        .insert_key(KeySpec {
            alias: "sdk",
            budget_usd: Some(5.0),
            ..KeySpec::default()
        })
        .await;
    let script = "openai_sdk_check.py";
    let mut args = vec![format!("{}/v1", app.url), key];
    args.extend(WALKTHROUGH_MODELS.iter().map(|m| m.to_string()));
    let stdout = run_sdk_script(script, args).await;
    assert_eq!(stdout.lines().count(), 16, "{stdout}");
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM request_logs WHERE success = 1"),
        16
    );
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM request_logs WHERE call_type = 'aresponses'"),
        8
    );
}

/// The OpenAI SDK's `embeddings.create` (its base64 default, float, `dimensions`)
/// against each provider kind, and its typed error for a chat model.
#[actix_web::test]
async fn the_openai_python_sdk_embeds_through_every_provider_kind() {
    if !sdk_ready("openai") {
        return;
    }
    let app = crate::rag::rag_app().await;
    let key = app.key("sdk-embeddings").await;
    let script = "openai_sdk_embeddings_check.py";
    let models = [
        "text-embedding-3-small",
        "local-embed",
        "codestral-embed",
        "gemini-embed",
    ];
    let mut args = vec![format!("{}/v1", app.url), key, "gpt-4o".into()];
    args.extend(models.iter().map(|m| m.to_string()));
    let stdout = run_sdk_script(script, args).await;
    assert_eq!(stdout.lines().count(), 3 * models.len() + 1, "{stdout}");
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM request_logs WHERE success = 1 AND call_type = 'aembedding' AND cost > 0"),
        3 * models.len() as i64
    );
}

/// The official Anthropic Python SDK through the Messages door: create and stream for
/// an Anthropic (passthrough) and three translated models, with `x-api-key` and with a
/// Bearer token, count_tokens, models.list and a typed not-found error.
#[actix_web::test]
async fn the_anthropic_python_sdk_works_through_the_messages_door() {
    if !sdk_ready("anthropic") {
        return;
    }
    let app = spawn_app().await;
    let key = app.key("anthropic-sdk").await;
    let script = "anthropic_sdk_check.py";
    let mut args = vec![app.url.clone(), key];
    args.extend(WALKTHROUGH_MODELS.iter().map(|m| m.to_string()));
    let stdout = run_sdk_script(script, args).await;
    assert_eq!(stdout.lines().count(), 17, "{stdout}");
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM request_logs WHERE success = 1 AND call_type = 'anthropic_messages'"),
        16
    );
}
