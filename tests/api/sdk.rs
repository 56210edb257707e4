//! The official OpenAI Python SDK against the real server: a normal and a streaming
//! call for each of the walkthrough's models. CI installs the SDK (`.ci/run`); locally
//! the test is skipped, with a note, when `python3 -c "import openai"` fails.

use crate::helpers::*;

fn sdk_available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import openai"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[actix_web::test]
async fn the_openai_python_sdk_works_for_every_model() {
    if !sdk_available() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have the OpenAI SDK (installed by .ci/run)"
        );
        eprintln!("skipped: the OpenAI Python SDK is not installed (pip install openai)");
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
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/openai_sdk_check.py");
    let mut args = vec![script.to_string(), format!("{}/v1", app.url), key];
    args.extend(WALKTHROUGH_MODELS.iter().map(|m| m.to_string()));
    let output =
        actix_web::web::block(move || std::process::Command::new("python3").args(&args).output())
            .await
            .unwrap()
            .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "SDK run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
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

fn anthropic_sdk_available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import anthropic"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The official Anthropic Python SDK through the Messages door: create and stream for
/// an Anthropic (passthrough) and three translated models, with `x-api-key` and with a
/// Bearer token, count_tokens, models.list and a typed not-found error.
#[actix_web::test]
async fn the_anthropic_python_sdk_works_through_the_messages_door() {
    if !anthropic_sdk_available() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have the Anthropic SDK (installed by .ci/run)"
        );
        eprintln!("skipped: the Anthropic Python SDK is not installed (pip install anthropic)");
        return;
    }
    let app = spawn_app().await;
    let key = app.key("anthropic-sdk").await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/sdk/anthropic_sdk_check.py"
    );
    let mut args = vec![script.to_string(), app.url.clone(), key];
    args.extend(WALKTHROUGH_MODELS.iter().map(|m| m.to_string()));
    let output =
        actix_web::web::block(move || std::process::Command::new("python3").args(&args).output())
            .await
            .unwrap()
            .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "SDK run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.lines().count(), 17, "{stdout}");
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM request_logs WHERE success = 1 AND call_type = 'anthropic_messages'"),
        16
    );
}
