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
    assert_eq!(stdout.lines().count(), 8, "{stdout}");
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM request_logs WHERE success = 1"),
        8
    );
}
