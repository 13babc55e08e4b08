//! `botify world` end to end on real files.

mod common;
use common::botify;

#[test]
fn generate_check_stats_and_reproducibility() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    for d in [&a, &b] {
        let (ok, out, err) = botify(&[
            "world",
            "generate",
            "--out",
            d.to_str().unwrap(),
            "--tracks",
            "3000",
            "--users",
            "100",
            "--dim",
            "16",
        ]);
        assert!(ok, "{out}{err}");
    }
    for f in ["tracks.json", "tracks.npy", "users.json"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f} differs"
        );
    }
    let (ok, out, _) = botify(&["world", "check", a.to_str().unwrap()]);
    assert!(ok && out.contains("valid") && out.contains("3000"), "{out}");
    let (ok, out, _) = botify(&["world", "stats", a.to_str().unwrap(), "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["tracks"], 3000);
    assert_eq!(v["users"], 100);
    assert_eq!(v["dim"], 16);
    // The course's files have no tracks.npy: what needs no embeddings still works.
    std::fs::remove_file(a.join("tracks.npy")).unwrap();
    let (ok, out, err) = botify(&["world", "stats", a.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(
        out.contains("tracks per artist") && out.contains("no tracks.npy"),
        "{out}"
    );
    assert!(!out.contains("embedding norms"), "{out}");
}

#[test]
fn a_config_file_sets_the_parameters_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("params.toml");
    std::fs::write(&config, "tracks = 400\nusers = 30\ndim = 8\nseed = 101\n").unwrap();
    let out_dir = dir.path().join("w");
    let generate = |extra: &[&str]| {
        let mut args = vec![
            "world",
            "generate",
            "--config",
            config.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
            "--force",
        ];
        args.extend_from_slice(extra);
        let (ok, out, err) = botify(&args);
        assert!(ok, "{out}{err}");
        out
    };
    // The message names the seed the world was made from: the file's, or the flag's.
    let out = generate(&[]);
    assert!(
        out.contains("400 tracks") && out.contains("(seed 101)"),
        "{out}"
    );
    let from_file = std::fs::read(out_dir.join("tracks.npy")).unwrap();
    let out = generate(&["--seed", "7", "--users", "40"]);
    assert!(
        out.contains("40 users") && out.contains("(seed 7)"),
        "{out}"
    );
    assert_ne!(
        std::fs::read(out_dir.join("tracks.npy")).unwrap(),
        from_file
    );
}

#[test]
fn broken_worlds_are_rejected_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let (ok, _, _) = botify(&[
        "world",
        "generate",
        "--out",
        w.to_str().unwrap(),
        "--tracks",
        "500",
        "--users",
        "20",
        "--dim",
        "8",
    ]);
    assert!(ok);
    // An interest outside the catalogue on line 3.
    let users = std::fs::read_to_string(w.join("users.json")).unwrap();
    let mut lines: Vec<String> = users.lines().map(String::from).collect();
    lines[2] = lines[2].replacen("\"interests\":[", "\"interests\":[99999,", 1);
    std::fs::write(w.join("users.json"), lines.join("\n")).unwrap();
    let (ok, _, err) = botify(&["world", "check", w.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("users.json:3") && err.contains("interests") && err.contains("99999"),
        "{err}"
    );
    // Embeddings with the wrong number of rows.
    std::fs::write(w.join("users.json"), users).unwrap();
    let npy = botify_core::npy::Embeddings::new(3, 8, vec![0.0; 24]).unwrap();
    npy.write(&w.join("tracks.npy")).unwrap();
    let (ok, _, err) = botify(&["world", "check", w.to_str().unwrap()]);
    assert!(
        !ok && err.contains("tracks.npy") && err.contains("3 rows"),
        "{err}"
    );
    // A NaN in the embeddings names the row.
    let mut data = vec![0.5f32; 500 * 8];
    data[8 * 42 + 3] = f32::NAN;
    botify_core::npy::Embeddings::new(500, 8, data)
        .unwrap()
        .write(&w.join("tracks.npy"))
        .unwrap();
    let (ok, _, err) = botify(&["world", "check", w.to_str().unwrap()]);
    assert!(!ok && err.contains("row 42"), "{err}");
    let (ok, _, err) = botify(&["world", "check", "/nonexistent/dir"]);
    assert!(!ok && err.contains("tracks.json"), "{err}");
}
