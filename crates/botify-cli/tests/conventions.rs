//! The command line's conventions, on the real binary: every option explained, shell completions
//! and man pages generated from the definition, `--quiet`, JSON output for scripts, progress as
//! lines in a log file, exit codes that tell a failed check from a command that could not run,
//! and no world overwritten without `--force`.

mod common;
use common::{bin, expect_success, logged_day, world};

use common::run_code as code;

#[test]
fn every_option_and_argument_has_help_text() {
    fn walk(c: &clap::Command, path: String, missing: &mut Vec<String>) {
        for a in c.get_arguments() {
            let id = a.get_id().as_str();
            if id != "help" && id != "version" && a.get_help().is_none() {
                missing.push(format!("{path} {}", a.get_long().unwrap_or(id)));
            }
        }
        if c.get_about().is_none() {
            missing.push(format!("{path} (the command itself)"));
        }
        for s in c.get_subcommands() {
            walk(s, format!("{path} {}", s.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    walk(&botify_cli::command(), "botify".into(), &mut missing);
    assert!(missing.is_empty(), "no help text: {missing:#?}");
}

#[test]
fn completions_and_man_pages_come_from_the_definition() {
    for shell in ["bash", "zsh", "fish"] {
        let out = expect_success(&bin().args(["completions", shell]).output().unwrap());
        // Every command and a deep flag are completed.
        for word in ["experiment", "generate", "holdout", "sequential"] {
            assert!(out.contains(word), "{shell} completions lack {word}");
        }
    }
    let (c, _, err) = code(&["completions", "tcsh"]);
    assert_eq!(c, Some(2), "{err}");
    let page = expect_success(&bin().arg("man").output().unwrap());
    assert!(
        page.starts_with(".ie") || page.contains(".TH botify"),
        "{page}"
    );
    assert!(
        page.contains("Exit codes"),
        "the man page states the exit codes"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    expect_success(
        &bin()
            .args(["man", "--out", out.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    for page in [
        "botify.1",
        "botify-world-generate.1",
        "botify-train-als.1",
        "botify-ab-power.1",
    ] {
        let text = std::fs::read_to_string(out.join(page)).unwrap();
        assert!(text.contains(".TH"), "{page}");
    }
    let als = std::fs::read_to_string(out.join("botify-train-als.1")).unwrap();
    assert!(
        als.contains("factors"),
        "model parameters are in their page"
    );
}

#[test]
fn quiet_json_and_progress_lines() {
    let dir = tempfile::tempdir().unwrap();
    logged_day(dir.path(), 400);
    let d = |p: &str| dir.path().join(p).to_str().unwrap().to_string();
    let world = d("world");
    let sim = |extra: &[&str]| {
        let mut args = vec!["sim", "--world", &world, "--recommender", "sticky_artist"];
        args.extend(["--episodes", "3000"]);
        args.extend(extra);
        code(&args)
    };
    // Into a pipe (as into a log file), progress is written as plain lines.
    let (c, _, err) = sim(&[]);
    assert_eq!(c, Some(0), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains('%') && l.contains("elapsed")),
        "no progress line in {err}"
    );
    assert!(!err.contains('\r') && !err.contains("\u{1b}["), "{err:?}");
    // --quiet: the results, nothing else.
    let (c, out, err) = sim(&["-q"]);
    assert_eq!(c, Some(0));
    assert!(err.is_empty(), "--quiet wrote {err:?}");
    assert!(!out.is_empty());
    // JSON for scripts: training, offline evaluation, export.
    let (c, out, err) = code(&[
        "train",
        "toppop",
        "--logs",
        &d("log"),
        "--out",
        &d("top.json"),
        "--format",
        "json",
        "--quiet",
    ]);
    assert_eq!(c, Some(0), "{err}");
    let trained: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(trained["model"], "toppop");
    assert!(trained["files"][0].as_str().unwrap().ends_with("top.json"));
    expect_success(
        &bin()
            .args([
                "train",
                "i2i",
                "--logs",
                &d("log"),
                "--out",
                &d("i2i.jsonl"),
                "-q",
            ])
            .output()
            .unwrap(),
    );
    // A command's stdout as one JSON document, asserting that it succeeded.
    let json = |args: &[&str]| -> serde_json::Value {
        let (c, out, err) = code(args);
        assert_eq!(c, Some(0), "{args:?}: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    };
    let (top, i2i) = (d("top.json"), d("i2i.jsonl"));
    let rows = json(&[
        "eval",
        "--logs",
        &d("log"),
        "--recs",
        &top,
        &i2i,
        "--format",
        "json",
    ]);
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert!(rows[0]["file"].as_str().unwrap().ends_with("top.json"));
    assert!(rows[0]["precision"].as_f64().unwrap() >= 0.0 && rows[0]["k"] == 10);
    let export = json(&[
        "log",
        "export",
        "--out",
        &d("pq"),
        &d("log"),
        "--message-format",
        "json",
    ]);
    assert_eq!(export["experiments"], serde_json::json!(["E"]));
    assert!(export["read"]["events"].as_u64().unwrap() > 400);
}

#[test]
fn exit_codes_tell_a_failed_check_from_bad_input_and_a_command_that_could_not_run() {
    let dir = tempfile::tempdir().unwrap();
    logged_day(dir.path(), 600);
    let d = |p: &str| dir.path().join(p).to_str().unwrap().to_string();
    // 1: the A/A check ran and found StickyArtist and Random different.
    let (c, out, err) = code(&["ab", "--experiment", "E", "--aa", &d("log")]);
    assert_eq!(c, Some(1), "{out}{err}");
    assert!(err.contains("A/A check failed"));
    // 1: `world check` ran and found the world invalid.
    let broken = dir.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(
        broken.join("tracks.json"),
        "{\"track\": 0, \"artist\": \"a\"",
    )
    .unwrap();
    let (c, _, err) = code(&["world", "check", broken.to_str().unwrap()]);
    assert_eq!(c, Some(1), "{err}");
    assert!(
        err.contains("not a valid world") && err.contains("tracks.json"),
        "{err}"
    );
    // 2: a bad flag, or a bad input named in the message.
    assert_eq!(
        code(&["sim", "--world", &d("world"), "--episodes", "0"]).0,
        Some(2)
    );
    // 3: could not run — the output cannot be written.
    let (c, _, err) = code(&[
        "train",
        "toppop",
        "--logs",
        &d("log"),
        "--out",
        "/proc/botify/top.json",
    ]);
    assert_eq!(c, Some(3), "{err}");
    assert!(err.contains("/proc/botify"), "{err}");
}

#[test]
fn world_generate_keeps_an_existing_world_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let w = world(dir.path(), "w", 500, 50, 8);
    let before = std::fs::read(w.join("tracks.json")).unwrap();
    let out = w.to_str().unwrap();
    let generate = |extra: &[&str]| {
        let mut args = vec![
            "world", "generate", "--out", out, "--seed", "9", "--tracks", "500",
        ];
        args.extend(extra);
        code(&args)
    };
    let (c, _, err) = generate(&[]);
    assert_eq!(c, Some(2), "{err}");
    assert!(
        err.contains("--force") && err.contains("tracks.json"),
        "{err}"
    );
    assert_eq!(std::fs::read(w.join("tracks.json")).unwrap(), before);
    let (c, _, err) = generate(&["--force", "-q"]);
    assert_eq!(c, Some(0), "{err}");
    assert_ne!(std::fs::read(w.join("tracks.json")).unwrap(), before);
}
