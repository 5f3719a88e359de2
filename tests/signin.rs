//! Signing in to the dashboard in a real browser (`tests/e2e/signin.mjs`, Debian's chromium
//! through playwright-core). Needs what `tests/dashboard.rs` needs (`scripts/setup.sh`
//! installs it). A file of its own, so it never shares the machine with the other browser test.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::*;
use serde_json::Value;

/// Signing in, in chromium (`tests/e2e/signin.mjs`): tokens made with `streamq token create`,
/// `streamq serve` on the live demo source with `customer_id` configured personal; a viewer
/// signs in and sees masked values on every tab, an analyst without grants sees masked SQL
/// results and tails, and signing out ends the session.
#[test]
fn the_dashboard_signs_in_with_a_token_and_a_viewer_sees_masked_values_on_every_tab() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let e2e = root.join("tests/e2e");
    let chromium = std::env::var("STREAMQ_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: `bash scripts/setup.sh`"
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = |role: &str| -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_streamq"))
            .args(["token", "create", "--role", role, "--name", role])
            .args(["--data-dir", data.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let (viewer, analyst, admin) = (token("viewer"), token("analyst"), token("admin"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_streamq"));
    cmd.arg("serve")
        .args(["--data-dir", data.to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0"])
        .current_dir(root)
        .env("STREAMQ_LOG", "warn")
        .env("STREAMQ_SOURCE", "demo")
        .env("STREAMQ_DEMO_RATE", "300")
        .env("STREAMQ_TEXT_ENABLED", "true")
        .env(
            "STREAMQ_PRIVACY__COLUMNS",
            r#"{ "*.*.customer_id" = "personal" }"#,
        );
    let server = Served::start(cmd);
    let base = server.base.clone();
    // Enough customers to look at.
    let deadline = Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let rows = ureq::post(&format!("{base}/api/sql"))
            .set("Authorization", &format!("Bearer {admin}"))
            .send_json(serde_json::json!({"sql": "SELECT COUNT(*) FROM hive.customers"}))
            .ok()
            .and_then(|r| r.into_json::<Value>().ok())
            .and_then(|v| v["rows"][0][0].as_i64())
            .unwrap_or(0);
        if rows >= 50 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not fill hive.customers"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let shots = screenshots_dir("signin-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let status = Command::new("node")
        .arg("signin.mjs")
        .current_dir(&e2e)
        .env("STREAMQ_URL", &base)
        .env("STREAMQ_SCREENSHOTS", &shots)
        .env("STREAMQ_CHROMIUM", &chromium)
        .env("E2E_VIEWER", &viewer)
        .env("E2E_ANALYST", &analyst)
        .env("E2E_ADMIN", &admin)
        .status()
        .expect("node runs (setup installs it)");
    assert!(
        status.success(),
        "the sign-in browser test failed: {status}"
    );
}
