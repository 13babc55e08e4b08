//! Checks that cannot run here (no redis-server, haproxy, chromium, tmpfs mount…) pass as
//! skipped, and libtest would show them as "ok": each says why, and appends `binary::test: why`
//! to the file `BOTIFY_SKIPPED` names, which the test command lists at its end.

use std::io::Write;

pub fn skipped(why: &str) {
    println!("skipped: {why}");
    let Some(path) = std::env::var_os("BOTIFY_SKIPPED") else {
        return;
    };
    // The test binary is `<name>-<hash>`; its thread is named after the test.
    let exe = std::env::current_exe().ok();
    let binary = exe
        .as_ref()
        .and_then(|e| e.file_stem())
        .and_then(|s| s.to_str())
        .map(|s| s.rsplit_once('-').map_or(s, |(name, _)| name))
        .unwrap_or("?");
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("?");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        // One write of the whole line: appends from parallel tests do not interleave.
        let _ = f.write_all(format!("{binary}::{test}: {why}\n").as_bytes());
    }
}
