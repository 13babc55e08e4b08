//! The HTML A/B report renders in a real browser (headless Chromium), when one is installed.

mod common;
use common::{bin, botify, chromium, expect_success, experiment, headless, logged_day, world};

#[test]
fn html_report_renders_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).to_str().unwrap().to_string();
    logged_day(dir.path(), 2000);
    let out = bin()
        .args([
            "ab",
            "--experiment",
            "E",
            &d("log"),
            "--html",
            &d("report.html"),
            "--format",
            "md",
        ])
        .output()
        .unwrap();
    expect_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("| T1 | mean_time_per_session |"));
    // Every statistics flag, through the CLI: the JSON says which interval and correction it
    // used, and carries decisions, guardrails and always-valid intervals. (The guardrail is on
    // a simulated metric: measured latency is too noisy on a shared machine to pin a status.)
    let (ok, out, err) = botify(&[
        "ab",
        "--experiment",
        "E",
        &d("log"),
        "--experiments",
        &d("exp.toml"),
        "--interval",
        "course",
        "--correction",
        "bh",
        "--guardrail",
        "sessions:1000%",
        "--sequential",
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (json["interval"].as_str(), json["correction"].as_str()),
        (Some("course"), Some("bh"))
    );
    // T1 is Random against StickyArtist: worse.
    assert_eq!(json["decisions"][0]["verdict"], "dont_ship", "{json}");
    let rows = json["rows"].as_array().unwrap();
    assert!(rows.iter().all(|r| r["sequential"]["lower"].is_number()));
    assert!(
        rows.iter()
            .any(|r| r["guardrail"]["status"] == "non_inferior")
    );
    let (_, table, _) = botify(&["ab", "--experiment", "E", &d("log"), "--sequential"]);
    assert!(
        table.contains("95% CI % (delta)")
            && table.contains("always-valid CI %")
            && table.contains("decision T1: don't ship"),
        "{table}"
    );
    let log = d("log");
    for (args, says) in [
        (vec!["--guardrail", "latency"], "METRIC:MARGIN"),
        (vec!["--interval", "wide"], "wide"),
        (vec!["--primary", "nope"], "unknown metric \"nope\""),
        (
            vec!["--experiments", "/nonexistent.toml"],
            "/nonexistent.toml",
        ),
    ] {
        let mut all = vec!["ab", "--experiment", "E", &log];
        all.extend(&args);
        let (ok, _, err) = botify(&all);
        assert!(!ok && err.contains(says), "{args:?}: {err}");
    }
    let Some(chromium) = chromium() else {
        common::skipped("the browser check: no chromium installed (CI installs it)");
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let shot = dir.path().join("report.png");
    let headless = |extra: &[&str]| headless(chromium, profile.path(), extra);
    let out = headless(&[
        "--window-size=1200,1600",
        &format!("--screenshot={}", shot.display()),
        &format!("file://{}", d("report.html")),
    ]);
    expect_success(&out);
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 20_000,
        "the screenshot is nearly empty"
    );
    let dom = headless(&["--dump-dom", &format!("file://{}", d("report.html"))]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("<svg") && dom.contains("mean_time_per_session") && dom.contains("polyline"),
        "{dom:.500}"
    );
}

#[test]
fn ab_verbs_power_aa_and_formats() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).to_str().unwrap().to_string();
    world(dir.path(), "world", 3000, 400, 16);
    let exp = experiment(
        dir.path(),
        "{ type = \"sticky_artist\" }",
        "{ type = \"sticky_artist\" }",
    );
    // Two days with a command between them (it sees the day number).
    let marker = dir.path().join("between.txt");
    let between = format!("echo day $BOTIFY_DAY >> {}", marker.display());
    let out = bin()
        .args([
            "sim",
            "--world",
            &d("world"),
            "--experiments",
            exp.to_str().unwrap(),
            "--episodes",
            "1500",
            "--days",
            "2",
            "--between",
            &between,
            "--log-dir",
            &d("log"),
        ])
        .output()
        .unwrap();
    expect_success(&out);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "day 1\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("1 ") || l.trim_start().starts_with("2 "))
            .count()
            >= 2,
        "{stdout}"
    );
    // Same recommender in both arms: the A/A check passes. On the simulated metrics, which the
    // seed fixes (the measured latency would make the verdict a draw with a 5% chance of failing).
    let out = bin()
        .args([
            "ab",
            "--experiment",
            "E",
            "--aa",
            "--metrics",
            "time,sessions,mean_tracks_per_session,mean_time_per_session",
            &d("log"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("A/A check passed"));
    let out = bin()
        .args(["ab", "--experiment", "E", "--format", "csv", &d("log")])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("treatment,metric,control_mean"));
    let out = bin()
        .args([
            "ab",
            "power",
            "--baseline-log",
            &d("log"),
            "--experiment",
            "E",
            "--effect",
            "5%",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && text.contains("users per group")
            && text.contains("minimum detectable effect"),
        "{text}"
    );
    let out = bin()
        .args([
            "ab",
            "power",
            "--baseline-log",
            &d("log"),
            "--effect",
            "abc",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("abc"));
    // A failing --between stops the run and says so.
    let out = bin()
        .args([
            "sim",
            "--world",
            &d("world"),
            "--recommender",
            "random",
            "--episodes",
            "10",
            "--days",
            "2",
            "--between",
            "exit 3",
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--between command")
    );
}

/// The default plan has ten arms: a report of ten names every arm by its recommender, keeps every
/// legend entry, shows the cumulative effect with its band per treatment and the per-user
/// distribution, and reads at a desktop's and a phone's width (screenshots: docs/report.png,
/// docs/report-phone.png when BOTIFY_SCREENSHOTS_TO_DOCS is set).
#[test]
fn a_ten_arm_report_names_every_arm_and_shows_every_chart() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).to_str().unwrap().to_string();
    world(dir.path(), "world", 3000, 600, 16);
    let mut toml = String::from(
        "[[experiment]]\nname = \"TEN\"\nbuckets = 10\ntreatments.C = { type = \"sticky_artist\" }\ntreatments.T1 = { type = \"random\" }\n",
    );
    for t in 2..10 {
        toml.push_str(&format!(
            "treatments.T{t} = {{ type = \"epsilon\", epsilon = {}, inner = {{ type = \"sticky_artist\" }} }}\n",
            f64::from(t) / 10.0
        ));
    }
    std::fs::write(d("ten.toml"), toml).unwrap();
    expect_success(
        &common::sim(&dir.path().join("world"), 12000)
            .args([
                "--experiments",
                &d("ten.toml"),
                "--log-dir",
                &d("log"),
                "-q",
            ])
            .output()
            .unwrap(),
    );
    let md = expect_success(
        &bin()
            .args([
                "ab",
                "--experiment",
                "TEN",
                &d("log"),
                "--experiments",
                &d("ten.toml"),
            ])
            .args(["--html", &d("report.html"), "--format", "md", "-q"])
            .output()
            .unwrap(),
    );
    assert!(
        md.contains("| T1 | random |") && md.contains("| T9 | epsilon(0.9, sticky_artist) |"),
        "{md}"
    );
    assert!(
        md.contains("as users arrived") && md.contains("| T1 (random) |"),
        "{md}"
    );
    assert!(md.contains("per user (quantiles"), "{md}");
    let html = std::fs::read_to_string(d("report.html")).unwrap();
    // The arms table names each arm's recommender; decisions too.
    assert_eq!(html.matches("<td class=\"rec\">").count(), 10);
    assert!(html.contains("<b>T1 (random)</b>"));
    // Every over-time legend has all ten entries, within the chart (they wrap into rows).
    let over_time = html.split("<h2>Over the experiment</h2>").nth(1).unwrap();
    let chart = over_time.split("</svg>").next().unwrap();
    let entries: Vec<f64> = chart
        .split("<rect x=\"")
        .skip(1)
        .map(|r| r.split('"').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(entries.len(), 10, "legend entries");
    assert!(entries.iter().all(|&x| x + 40.0 < 480.0), "{entries:?}");
    // Progress is sessions, not wall seconds.
    assert!(
        over_time.contains("thousand sessions finished") && !over_time.contains("seconds since")
    );
    // The cumulative effect per treatment, with its band; the distribution per arm.
    let cumulative = html.split("id=\"cumulative\"").nth(1).unwrap();
    assert_eq!(
        cumulative
            .split("id=\"distribution\"")
            .next()
            .unwrap()
            .matches("class=\"band\"")
            .count(),
        9
    );
    let distribution = html.split("id=\"distribution\"").nth(1).unwrap();
    assert_eq!(
        distribution
            .split("</svg>")
            .next()
            .unwrap()
            .matches("<polyline")
            .count(),
        10
    );

    let Some(chromium) = chromium() else {
        common::skipped("the browser check: no chromium installed (CI installs it)");
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}", d("report.html"));
    for (size, name) in [("1400,1000", "report.png"), ("390,844", "report-phone.png")] {
        let dom = headless(
            chromium,
            profile.path(),
            &[&format!("--window-size={size}"), "--dump-dom", &url],
        );
        let dom = String::from_utf8_lossy(&dom.stdout);
        assert!(
            dom.contains("id=\"cumulative\"") && dom.contains("epsilon(0.9, sticky_artist)"),
            "{size}"
        );
        let full = size.replace(",1000", ",6400").replace(",844", ",9000");
        let shot = if std::env::var_os("BOTIFY_SCREENSHOTS_TO_DOCS").is_some() {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../docs")
                .join(name)
        } else {
            dir.path().join(name)
        };
        let out = headless(
            chromium,
            profile.path(),
            &[
                &format!("--window-size={full}"),
                "--hide-scrollbars",
                &format!("--screenshot={}", shot.display()),
                &url,
            ],
        );
        expect_success(&out);
        assert!(
            std::fs::metadata(&shot).unwrap().len() > 50_000,
            "{name} is nearly empty"
        );
    }
}
