//! Bad input to the real binary, as a table: each case gets a clear error that names the flag or
//! field, exit code 2, and no panic or abort — sizes that would allocate without bound are
//! refused before anything runs. Then the cases that used to give wrong output silently.

mod common;
use common::{bin, logged_day, world};
use std::process::Command;

use common::run_code as run;

#[test]
fn bad_flags_and_files_name_the_problem_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    logged_day(dir.path(), 300);
    let d = |p: &str| dir.path().join(p).to_str().unwrap().to_string();
    let (w, log, out) = (d("world"), d("log"), d("out.jsonl"));
    // A world whose tracks have impossible numbers, and an experiments file with a huge history.
    let bad_world = dir.path().join("bad-world");
    for (name, line, field) in [
        (
            "duration",
            r#"{"track": 0, "artist": "a", "title": "t", "duration": -3}"#,
            "duration",
        ),
        (
            "pop",
            r#"{"track": 0, "artist": "a", "title": "t", "pop": -1}"#,
            "pop",
        ),
        (
            "pop-huge",
            r#"{"track": 0, "artist": "a", "title": "t", "pop": 1e308}"#,
            "pop",
        ),
    ] {
        let wd = bad_world.join(name);
        std::fs::create_dir_all(&wd).unwrap();
        std::fs::write(wd.join("tracks.json"), format!("{line}\n")).unwrap();
        // `world check` ran and found the world invalid: its check failed (1). Any other command
        // given the world has a bad input (2).
        let (code, _, err) = run(&["world", "check", wd.to_str().unwrap()]);
        assert_eq!(code, Some(1), "world check {name}: {err}");
        assert!(
            err.contains(&format!("field `{field}`")) && err.contains(":1:"),
            "{err}"
        );
        let (code, _, err) = run(&["world", "stats", wd.to_str().unwrap()]);
        assert_eq!(code, Some(2), "world stats {name}: {err}");
        assert!(err.contains(&format!("field `{field}`")), "{err}");
    }
    let exp = dir.path().join("huge-history.toml");
    std::fs::write(
        &exp,
        "history = 1000000000000\n[[experiment]]\nname = \"E\"\nbuckets = 2\ntreatments.C = { type = \"random\" }\n",
    )
    .unwrap();
    let exp = exp.to_str().unwrap().to_string();
    #[rustfmt::skip]
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["sim", "--world", &w, "--episodes", "1000000000000000"], "--episodes"),
        (vec!["sim", "--world", &w, "--episodes", "0"], "--episodes"),
        (vec!["sim", "--world", &w, "--concurrency", "0", "--remote", "http://127.0.0.1:9"], "--concurrency"),
        (vec!["train", "als", "--logs", &log, "--out", &out, "--k", "1000000000"], "--k"),
        (vec!["train", "mf", "--logs", &log, "--out", &out, "--factors", "100000"], "--factors"),
        (vec!["train", "taste", "--logs", &log, "--out", &out, "--holdout", "1"], "--holdout"),
        (vec!["train", "taste", "--logs", &log, "--out", &out, "--holdout", "1.5"], "--holdout"),
        (vec!["train", "taste", "--logs", &log, "--out", &out, "--holdout", "NaN"], "--holdout"),
        (vec!["train", "mf", "--logs", &log, "--out", &out, "--lr", "NaN"], "--learning-rate"),
        (vec!["train", "ease", "--logs", &log, "--out", &out, "--max-items", "1000000"], "--max-items"),
        (vec!["ab", "--experiment", "E", "--buckets", "0", &log], "--buckets"),
        (vec!["ab", "power", "--baseline-log", &log, "--effect", "100000%"], "--effect"),
        (vec!["ab", "power", "--baseline-log", &log, "--metric", "nope", "--effect", "2%"], "unknown metric \"nope\""),
        (vec!["sim", "--world", &w, "--experiments", &exp, "--episodes", "10"], "history"),
    ];
    for (args, names) in &cases {
        let (code, _, err) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(names), "{args:?} should name {names}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn output_cut_short_by_the_reader_is_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let w = world(dir.path(), "world", 3000, 300, 16);
    let cmd = format!(
        "{} world stats {} | head -c1 >/dev/null",
        env!("CARGO_BIN_EXE_botify"),
        w.display()
    );
    let out = Command::new("sh").args(["-c", &cmd]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
}

#[test]
fn a_log_named_twice_is_read_once_and_the_aa_verdict_keeps_json_parseable() {
    let dir = tempfile::tempdir().unwrap();
    logged_day(dir.path(), 400);
    let log = dir.path().join("log");
    let log = log.to_str().unwrap();
    let (code, once, _) = run(&["ab", "--experiment", "E", "--format", "json", log]);
    assert_eq!(code, Some(0));
    let (code, twice, err) = run(&["ab", "--experiment", "E", "--format", "json", log, log]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("named twice"), "{err}");
    let users = |text: &str| {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        v["treatments"].clone()
    };
    assert_eq!(users(&once), users(&twice));
    // --aa with a machine format: the document alone on stdout, the verdict on stderr.
    let out = bin()
        .args(["ab", "--experiment", "E", "--aa", "--format", "json", log])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str::<serde_json::Value>(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {stdout}"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("A/A check"));
}
