//! The default job: `streamq serve` with no arguments comes up on live demo data whose tables
//! grow while it runs.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::Served;

fn count(base: &str) -> Option<u64> {
    let out = Command::new(env!("CARGO_BIN_EXE_streamq"))
        .args([
            "sql",
            "SELECT count(*) FROM db2.transactions",
            "--server",
            base,
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().find_map(|l| {
        l.trim_matches(|c: char| !c.is_ascii_digit())
            .parse::<u64>()
            .ok()
    })
}

#[test]
fn serve_with_no_arguments_runs_the_live_demo_and_counts_grow() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_streamq"));
    cmd.arg("serve")
        .current_dir(dir.path())
        .env("STREAMQ_LISTEN", "127.0.0.1:0")
        .env("STREAMQ_LOG", "warn");
    let mut served = Served::start(cmd);
    let base = served.base.clone();
    // Wait (bounded) until two readings show growth; no timing is asserted.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut readings = Vec::new();
    while Instant::now() < deadline {
        if let Some(n) = count(&base) {
            readings.push(n);
            if readings.len() >= 2 && readings[readings.len() - 1] > readings[0] && readings[0] > 0
            {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    unsafe { libc_kill(served.child.id() as i32) };
    let status = served.child.wait().unwrap();
    assert!(
        readings.len() >= 2 && readings.last() > readings.first(),
        "counts: {readings:?}"
    );
    assert!(status.success(), "a SIGTERM shuts down cleanly: {status:?}");
    assert!(
        dir.path().join("data").exists(),
        "state is kept in ./data by default"
    );
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill_raw(pid: i32, sig: i32) -> i32;
}

/// SIGTERM, which the server handles with a graceful drain.
unsafe fn libc_kill(pid: i32) {
    unsafe {
        libc_kill_raw(pid, 15);
    }
}
