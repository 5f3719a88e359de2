//! The default job: `streamq serve` with no arguments comes up on live demo data whose tables
//! grow while it runs.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    let mut child = Command::new(env!("CARGO_BIN_EXE_streamq"))
        .arg("serve")
        .current_dir(dir.path())
        .env("STREAMQ_LISTEN", "127.0.0.1:0")
        .env("STREAMQ_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the URL is printed")
        .to_string();
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
    unsafe { libc_kill(child.id() as i32) };
    let status = child.wait().unwrap();
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
