//! `botify train` and `botify eval` on a log the simulator wrote: every model's file is in a format
//! the service loads, curves are written, and bad input is a clear error.

mod common;
use botify_core::Catalog;
use botify_recs::experiments::ExperimentsConfig;
use botify_recs::experiments::Router;
use botify_recs::spec::RecommenderSpec;
use common::{botify, world};
use std::path::Path;
use std::sync::Arc;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Simulates `episodes` sessions against `recommender` in-process into the event log `log`.
fn simulate(world: &Path, episodes: u32, recommender: &str, log: &Path) -> std::path::PathBuf {
    let (ok, _, err) = botify(&[
        "sim",
        "--world",
        s(world),
        "--episodes",
        &episodes.to_string(),
        "--recommender",
        recommender,
        "--log-dir",
        s(log),
    ]);
    assert!(ok, "{err}");
    log.to_path_buf()
}

#[test]
fn every_trainer_writes_what_the_service_serves() {
    let d = tempfile::tempdir().unwrap();
    let w = world(d.path(), "world", 2000, 200, 16);
    let log = simulate(&w, 3000, "sticky-artist", &d.path().join("log"));
    let catalog = w.join("tracks.json");
    let out = |name: &str| d.path().join("models").join(name);
    let runs: Vec<(&str, Vec<&str>, std::path::PathBuf)> = vec![
        ("toppop", vec![], out("top.json")),
        ("i2i", vec![], out("i2i.jsonl")),
        ("i2i", vec!["--mode", "next"], out("i2i_next.jsonl")),
        ("ucf", vec![], out("ucf.jsonl")),
        (
            "als",
            vec!["--factors", "8", "--iterations", "3"],
            out("als.jsonl"),
        ),
        ("ease", vec!["--max-items", "500"], out("ease.jsonl")),
        (
            "ips",
            vec!["--factors", "8", "--iterations", "3", "--max-weight", "5"],
            out("ips.jsonl"),
        ),
        (
            "lightgcn",
            vec![
                "--dim", "8", "--layers", "2", "--epochs", "3", "--batch", "512",
            ],
            out("lightgcn.jsonl"),
        ),
        (
            "mf",
            vec!["--factors", "8", "--epochs", "3", "--loss", "bpr"],
            out("mf_bpr.jsonl"),
        ),
        (
            "mf",
            vec![
                "--factors",
                "8",
                "--epochs",
                "3",
                "--item-features",
                "artist,genre,pop,duration",
                "--search",
                "2",
            ],
            out("mf.jsonl"),
        ),
    ];
    let nn = vec![
        "--dim",
        "8",
        "--epochs",
        "3",
        "--patience",
        "5",
        "--similarity",
        "cosine",
        "--loss",
        "mae",
    ];
    let nn_anchor = vec!["--dim", "8", "--epochs", "2", "--context", "anchor"];
    let dssm = vec!["--dim", "8", "--epochs", "3", "--batch", "64"];
    let item2vec = vec!["--dim", "8", "--epochs", "3"];
    #[rustfmt::skip]
    let sasrec = vec!["--dim", "8", "--blocks", "1", "--epochs", "3", "--negatives", "32"];
    let candidates = out("mf.jsonl");
    #[rustfmt::skip]
    let difm = vec![
        "--candidates", s(&candidates), "--dim", "8", "--heads", "2", "--head-dim", "4",
        "--hidden", "16,8", "--components", "20", "--epochs", "3", "--patience", "5", "--k", "50",
    ];
    let (als_lists, nn_lists) = (out("als.jsonl"), out("i2i_nn.jsonl"));
    let dpp_users = vec!["--candidates", s(&als_lists)];
    let dpp_tracks = vec!["--candidates", s(&nn_lists), "--theta", "0.5"];
    let runs = runs
        .into_iter()
        .chain([
            ("contextual", nn, out("i2i_nn.jsonl")),
            ("contextual", nn_anchor, out("i2i_anchor.jsonl")),
            ("item2vec", item2vec, out("item2vec.jsonl")),
            ("sasrec", sasrec, out("sasrec.jsonl")),
            ("dssm", dssm, out("dssm.jsonl")),
            ("difm", difm, out("difm.jsonl")),
            ("dpp", dpp_users, out("dpp.jsonl")),
            ("dpp", dpp_tracks, out("dpp_nn.jsonl")),
        ])
        .collect::<Vec<_>>();
    for (model, extra, file) in &runs {
        let mut args = vec![
            "train",
            model,
            "--logs",
            s(&log),
            "--catalog",
            s(&catalog),
            "--out",
            s(file),
        ];
        args.extend(extra);
        let (ok, stdout, err) = botify(&args);
        assert!(ok, "{model} {extra:?}: {err}");
        assert!(file.exists(), "{model}: no {}", file.display());
        if !["i2i", "contextual"].contains(model) && !file.ends_with("dpp_nn.jsonl") {
            assert!(
                stdout.contains("precision@10") || err.contains("precision@10"),
                "{model}: {stdout}{err}"
            );
        }
    }
    // The taste model learns from sessions that visit other artists: StickyArtist's never do,
    // which is a clear error; Random's do.
    let taste = |log: &Path| {
        botify(&[
            "train",
            "taste",
            "--logs",
            s(log),
            "--catalog",
            s(&catalog),
            "--dim",
            "8",
            "--epochs",
            "2",
            "--min-count",
            "1",
            "--out",
            s(&out("taste.jsonl")),
        ])
    };
    let (ok, _, err) = taste(&log);
    assert!(
        !ok && err.contains("no session has a later listen of another artist"),
        "{err}"
    );
    let random_log = simulate(&w, 500, "random", &d.path().join("random-log"));
    let (ok, _, err) = taste(&random_log);
    assert!(ok, "{err}");
    let tastes = std::fs::read_to_string(out("taste.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(tastes.lines().next().unwrap()).unwrap();
    assert_eq!(first["vector"].as_array().unwrap().len(), 8, "{first}");
    // Random's traffic repeats an artist now and then: each artist's repeat time is in [0, 1].
    let repeat = first["repeat"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&repeat), "{first}");
    // The memory: StickyArtist's sessions never reach another artist, which is named; Random's
    // long listens are remembered by user and opening artist, longest first.
    let memory = |log: &Path| {
        botify(&[
            "train",
            "memory",
            "--logs",
            s(log),
            "--catalog",
            s(&catalog),
            "--out",
            s(&out("memory.jsonl")),
        ])
    };
    let (ok, _, err) = memory(&log);
    assert!(
        !ok && err.contains("no session has a listen of another artist"),
        "{err}"
    );
    let (ok, _, err) = memory(&random_log);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(out("memory.jsonl")).unwrap();
    for line in text.lines() {
        let l: serde_json::Value = serde_json::from_str(line).unwrap();
        let times: Vec<f64> = l["times"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_f64().unwrap())
            .collect();
        assert_eq!(times.len(), l["tracks"].as_array().unwrap().len(), "{l}");
        assert!(
            times.windows(2).all(|w| w[0] >= w[1]) && times.iter().all(|&t| t >= 0.5),
            "{l}"
        );
    }
    assert!(
        std::fs::read_to_string(out("taste.curve.csv"))
            .unwrap()
            .lines()
            .count()
            == 3
    );

    // Learning curves: CSV with one row per epoch, a PNG and an HTML page.
    #[rustfmt::skip]
    let stems = ["mf", "als", "ips", "lightgcn", "i2i_nn", "item2vec", "sasrec", "dssm", "difm"];
    for stem in stems {
        let csv = std::fs::read_to_string(out(&format!("{stem}.curve.csv"))).unwrap();
        assert!(csv.lines().count() >= 4, "{csv}");
        let png = std::fs::read(out(&format!("{stem}.curve.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(out(&format!("{stem}.curve.html")).exists());
    }
    // The contextual model's weights reload to the lists it wrote.
    let model = botify_neural::contextual::Model::load(&out("i2i_nn.model.safetensors")).unwrap();
    let lists = std::fs::read_to_string(out("i2i_nn.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(lists.lines().next().unwrap()).unwrap();
    let (a, b) = (
        first["track"].as_u64().unwrap() as u32,
        first["recommendations"][0].as_u64().unwrap() as u32,
    );
    let w = first["weights"][0].as_f64().unwrap();
    assert!((f64::from(model.predict(a, b)) - w).abs() < 1e-3, "{w}");
    // DIFM re-ranks each user's MF candidates (keeping the best 50) by the model's scores, and
    // its curve has AUC on training and validation examples.
    let read_lists = |file: &str| -> std::collections::HashMap<u32, Vec<u32>> {
        std::fs::read_to_string(out(file))
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let tracks = v["tracks"].as_array().unwrap();
                let tracks = tracks.iter().map(|t| t.as_u64().unwrap() as u32);
                (v["user"].as_u64().unwrap() as u32, tracks.collect())
            })
            .collect()
    };
    // DPP re-orders ALS's lists without adding or dropping a track.
    let (als_lists, dpp_lists) = (read_lists("als.jsonl"), read_lists("dpp.jsonl"));
    assert_eq!(als_lists.len(), dpp_lists.len());
    for (u, ranked) in &dpp_lists {
        let (mut a, mut b) = (ranked.clone(), als_lists[u].clone());
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b, "user {u}");
    }
    let per_track = std::fs::read_to_string(out("dpp_nn.jsonl")).unwrap();
    assert!(
        per_track.starts_with("{\"track\""),
        "per-track in, per-track out"
    );
    let (mf_lists, difm_lists) = (read_lists("mf.jsonl"), read_lists("difm.jsonl"));
    assert_eq!(mf_lists.len(), difm_lists.len());
    let difm = botify_neural::difm::Model::load(&out("difm.model.safetensors")).unwrap();
    for (u, ranked) in &difm_lists {
        let given = &mf_lists[u];
        assert_eq!(ranked.len(), given.len().min(50));
        assert!(ranked.iter().all(|t| given.contains(t)), "user {u}");
        let pairs: Vec<(u32, u32)> = ranked.iter().map(|&t| (*u, t)).collect();
        let scores = difm.predict(&pairs).unwrap();
        assert!(
            scores.windows(2).all(|w| w[0] >= w[1]),
            "user {u}: {scores:?}"
        );
    }
    let curve = std::fs::read_to_string(out("difm.curve.csv")).unwrap();
    assert!(
        curve.starts_with("epoch,loss,validation_loss,train_AUC,AUC\n"),
        "{curve}"
    );
    let params = std::fs::read_to_string(out("mf.params.json")).unwrap();
    assert!(
        params.contains("\"features\"") && params.contains("artist"),
        "{params}"
    );

    // The service builds every file as the recommender that reads its format.
    let spec =
        |kind: &str, file: &str| format!("{{ type = \"{kind}\", file = \"{}\" }}", s(&out(file)));
    let specs = [
        spec("top_pop", "top.json"),
        spec("contextual", "i2i.jsonl"),
        spec("session_anchor", "item2vec.jsonl"),
        spec("session_anchor", "sasrec.jsonl"),
        spec("session_taste", "taste.jsonl"),
        spec("history_i2i", "i2i_next.jsonl"),
        spec("sequential", "ucf.jsonl"),
        spec("indexed", "als.jsonl"),
        spec("indexed", "mf.jsonl"),
        spec("sequential", "ease.jsonl"),
        spec("sequential", "ips.jsonl"),
        spec("sequential", "lightgcn.jsonl"),
        spec("sequential", "dssm.jsonl"),
        spec("history_list", "difm.jsonl"),
        format!(
            "{{ type = \"weighted_i2i\", file = \"{}\", personal = \"{}\", top = \"{}\" }}",
            s(&out("i2i_nn.jsonl")),
            s(&out("als.jsonl")),
            s(&out("top.json"))
        ),
    ];
    let specs: Vec<RecommenderSpec> = specs
        .iter()
        .map(|x| RecommenderSpec::parse_cli(x).unwrap())
        .collect();
    let cat = Arc::new(Catalog::load(&catalog).unwrap());
    // At most 10 treatments per experiment.
    for chunk in specs.chunks(6) {
        Router::build(ExperimentsConfig::split("ALL", chunk.to_vec()), cat.clone()).unwrap();
    }

    // eval compares several files on the same split.
    let (ok, stdout, err) = botify(&[
        "eval",
        "--logs",
        s(&log),
        "--catalog",
        s(&catalog),
        "--recs",
        s(&out("mf.jsonl")),
        s(&out("als.jsonl")),
        s(&out("top.json")),
        s(&out("item2vec.jsonl")),
        s(&out("i2i.jsonl")),
    ]);
    assert!(ok, "{err}");
    let rows: Vec<&str> = stdout.lines().collect();
    assert_eq!(rows.len(), 7, "{stdout}");
    assert!(
        rows[0].contains("P@10") && rows[1].contains("mf.jsonl") && rows[3].contains("top.json"),
        "{stdout}"
    );
    // Per-track lists are scored on held-out next tracks: they find some, and more pairs
    // (queries) than there are users.
    let cells = |row: &str| -> Vec<f64> {
        row.split_whitespace()
            .skip(1)
            .map(|c| c.parse().unwrap())
            .collect()
    };
    let (users, i2v, i2i) = (cells(rows[1]), cells(rows[4]), cells(rows[5]));
    assert!(i2v[0] > users[0] && i2v[0] == i2i[0], "{stdout}");
    assert!(i2v[2] > 0.0 && i2i[2] > 0.0, "{stdout}");
    assert!(rows[6].contains("next-track hit rate"), "{stdout}");
}

#[test]
fn bad_training_input_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let w = world(d.path(), "world", 500, 50, 8);
    let small = world(d.path(), "small", 100, 10, 8);
    let log = simulate(&w, 300, "random", &d.path().join("log"));
    let out = d.path().join("m.jsonl");
    let train = |args: &[&str]| {
        let mut all = vec!["train"];
        all.extend(args);
        botify(&all)
    };
    // A catalogue that does not match the log.
    let (ok, _, err) = train(&[
        "mf",
        "--logs",
        s(&log),
        "--catalog",
        s(&small.join("tracks.json")),
        "--out",
        s(&out),
    ]);
    assert!(!ok && err.contains("catalogue has 100 tracks"), "{err}");
    // An empty log directory, and a file of garbage.
    let empty = d.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (ok, _, err) = train(&["toppop", "--logs", s(&empty), "--out", s(&out)]);
    assert!(!ok && err.contains("holds no event log"), "{err}");
    let junk = d.path().join("junk");
    std::fs::create_dir_all(&junk).unwrap();
    std::fs::write(junk.join("data.json"), "not json\n{\"half\": \n").unwrap();
    let (ok, _, err) = train(&["ucf", "--logs", s(&junk), "--out", s(&out)]);
    assert!(
        !ok && err.contains("skipped 2 malformed") && err.contains("no events"),
        "{err}"
    );
    // Flags that cannot work: (arguments after the log, what the error says).
    let (l, o, cat) = (s(&log), s(&out), w.join("tracks.json"));
    let missing = d.path().join("missing.jsonl");
    #[rustfmt::skip]
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["train", "mf", "--logs", l, "--item-features", "artist", "--out", o], "--catalog"),
        (vec!["train", "mf", "--logs", l, "--catalog", s(&cat), "--item-features", "colour", "--out", o], "colour"),
        (vec!["train", "mf", "--logs", l, "--lr", "NaN", "--out", o], "--learning-rate <X>': learning_rate \"NaN\": not a finite number"),
        (vec!["train", "als", "--logs", l, "--factors", "0", "--out", o], "--factors <N>': factors 0 must be from 1 to 4096"),
        (vec!["train", "i2i", "--logs", l, "--k", "0", "--out", o], "--k <K>': 0 is out of range"),
        (vec!["train", "item2vec", "--logs", l, "--negatives", "0", "--out", o], "--negatives <N>': negatives 0 must be from 1 to 100000"),
        (vec!["train", "ease", "--logs", l, "--max-items", "1", "--out", o], "max_items 1"),
        (vec!["train", "ips", "--logs", l, "--max-weight", "0.5", "--out", o], "max_weight 0.5"),
        (vec!["train", "lightgcn", "--logs", l, "--layers", "12", "--out", o], "layers 12"),
        (vec!["train", "sasrec", "--logs", l, "--max-len", "1", "--out", o], "max_len 1"),
        (vec!["train", "contextual", "--logs", l, "--context", "last", "--out", o], "last"),
        (vec!["train", "dpp", "--logs", l, "--catalog", s(&cat), "--candidates", s(&missing), "--theta", "1", "--out", o], "theta 1"),
        (vec!["train", "dpp", "--logs", l, "--candidates", s(&missing), "--out", o], "--catalog"),
        (vec!["train", "item2vec", "--logs", l, "--subsample=-1", "--out", o], "subsample -1"),
        (vec!["train", "ucf", "--logs", l, "--threshold", "2", "--out", o], "threshold 2"),
        (vec!["train", "difm", "--logs", l, "--catalog", s(&cat), "--candidates", s(&missing), "--components", "2000", "--out", o], "components"),
        (vec!["eval", "--logs", l, "--recs", s(&missing), "--k", "0"], "--k <K>': 0 is out of range"),
        (vec!["ab", "power", "--baseline-log", l, "--alpha", "0", "--effect", "2%"], "--alpha 0"),
        (vec!["ab", "power", "--baseline-log", l, "--power", "1", "--effect", "2%"], "--power 1"),
        (vec!["ab", "power", "--baseline-log", l, "--power", "0", "--effect", "2%"], "--power 0"),
        (vec!["ab", "power", "--baseline-log", l, "--users", "0"], "--users 0"),
        (vec!["sim", "--world", s(&w), "--recommender", "random", "--days", "0"], "days must be at least 1"),
        (vec!["serve", "--catalog", s(&cat), "--log-max-mib", "17592186044416"], "--log-max-mib"),
        (vec!["serve", "--catalog", s(&cat), "--log-max-mib", "0"], "--log-max-mib"),
        (vec!["serve", "--catalog", s(&cat), "--log-backups", "0"], "--log-backups"),
        (vec!["serve", "--catalog", s(&cat), "--workers", "0"], "--workers"),
        (vec!["sim", "--world", s(&w), "--recommender", "{ type = \"random\", bogus = 1 }"], "bogus"),
        (vec!["train", "als", "--logs", l, "--holdout", "1.5", "--out", o], "--holdout <HOLDOUT>': 1.5"),
        (vec!["train", "contextual", "--logs", l, "--dim", "0", "--out", o], "dim"),
        (vec!["train", "contextual", "--logs", l, "--similarity", "euclid", "--out", o], "euclid"),
        (vec!["eval", "--logs", l, "--recs", s(&missing)], "missing.jsonl"),
        (vec!["train", "difm", "--logs", l, "--candidates", s(&missing), "--out", o], "--catalog"),
        (vec!["train", "difm", "--logs", l, "--catalog", s(&cat), "--candidates", s(&missing), "--out", o], "missing.jsonl"),
        (vec!["train", "difm", "--logs", l, "--catalog", s(&cat), "--candidates", s(&missing), "--positive", "0.2", "--negative", "0.5", "--out", o], "negative < positive"),
    ];
    for (args, says) in &cases {
        let (ok, _, err) = botify(args);
        assert!(!ok && err.contains(says), "{args:?}: {err}");
    }
    assert!(!out.exists(), "nothing is written on error");
}
