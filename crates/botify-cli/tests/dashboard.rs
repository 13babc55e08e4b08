//! The live dashboard with the real binary: `botify serve --dashboard` driven by
//! `botify sim --remote`, its API against `botify ab`, the page in headless Chromium while
//! traffic runs, and `botify experiment run --dashboard` through a whole run.

mod common;
use common::{bin, chromium, free_port, headless, logged_day};
use serde_json::Value;
use std::io::{BufRead, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One request, with a bearer token when given: (status, body).
fn http(port: u16, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let auth = token.map(|t| format!("authorization: Bearer {t}"));
    let headers: Vec<&str> = auth.iter().map(String::as_str).collect();
    common::http(port, method, path, &headers, "")
}

fn get_json(port: u16, path: &str) -> Value {
    let (status, body) = http(port, "GET", path, None);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body:.300}"))
}

fn wait_for_port(port: u16) {
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "port {port} never opened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The text of the element with `id` in a dumped DOM.
fn text_of(dom: &str, id: &str) -> String {
    let tag = format!("id=\"{id}\"");
    dom.split_once(&tag)
        .and_then(|(_, rest)| rest.split_once('>'))
        .and_then(|(_, rest)| rest.split_once('<'))
        .map_or(String::new(), |(t, _)| t.to_string())
}

/// Whether the page marked the scrolling box of table `id` as wider than the screen.
fn overflows(dom: &str, id: &str) -> bool {
    let Some(at) = dom.find(&format!("<table id=\"{id}\"")) else {
        panic!("no table {id}");
    };
    let before = &dom[..at];
    let open = before
        .rfind("<div class=\"scroll")
        .expect("a scrolling box");
    before[open..].starts_with("<div class=\"scroll overflows")
}

/// Where a screenshot goes: the docs' pictures when BOTIFY_SCREENSHOTS_TO_DOCS is set (to
/// refresh them), else the test's directory.
fn screenshot_path(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    if std::env::var_os("BOTIFY_SCREENSHOTS_TO_DOCS").is_some() {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs")
            .join(name)
    } else {
        dir.join(name)
    }
}

fn rows(report: &Value) -> Vec<(String, String, Vec<f64>)> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
            let seq = &r["sequential"];
            (
                r["treatment"].as_str().unwrap().to_string(),
                r["metric"].as_str().unwrap().to_string(),
                vec![
                    f("control_mean"),
                    f("treatment_mean"),
                    f("effect"),
                    f("lower"),
                    f("upper"),
                    f("p_value"),
                    f("p_adjusted"),
                    seq["lower"].as_f64().unwrap(),
                    seq["upper"].as_f64().unwrap(),
                    seq["p"].as_f64().unwrap(),
                    f("control_users"),
                    f("treatment_users"),
                ],
            )
        })
        .collect()
}

#[test]
fn the_live_dashboard_follows_traffic_and_equals_botify_ab() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).to_str().unwrap().to_string();
    // A log that already holds a day: the dashboard starts from it, as `botify ab` reads it.
    logged_day(dir.path(), 400);
    let (w, exp) = (dir.path().join("world"), dir.path().join("exp.toml"));
    let (port, dash) = (free_port(), free_port());
    let _server = Proc(
        bin()
            .args([
                "serve",
                "--catalog",
                w.join("tracks.json").to_str().unwrap(),
            ])
            .args([
                "--experiments",
                exp.to_str().unwrap(),
                "--log-dir",
                &d("log"),
            ])
            .args(["--port", &port.to_string()])
            .args(["--dashboard", &format!("127.0.0.1:{dash}")])
            .env("BOTIFY_ADMIN_TOKEN", "let-me-in")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port);
    wait_for_port(dash);
    let (status, page) = http(dash, "GET", "/dashboard", None);
    assert!(status == 200 && page.contains("<svg") && !page.contains("http://cdn"));
    // The page is up before the service has loaded its configuration.
    let t = Instant::now();
    while get_json(dash, "/api/config")["service"] != "running" {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the service never attached"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let seeded = get_json(dash, "/api/live")["live_lines"].as_u64().unwrap();
    assert!(seeded > 400, "the existing log was not read: {seeded}");
    let config = get_json(dash, "/api/config");
    assert_eq!(config["routing"], "E");
    assert_eq!(config["treatments"]["T1"]["type"], "random");
    assert_eq!(config["admin"], true);

    // Traffic that runs while the page is looked at.
    let mut sim = Proc(
        bin()
            .args(["sim", "--world", &d("world"), "--remote"])
            .arg(format!("http://127.0.0.1:{port}"))
            .args(["--episodes", "1000000", "--concurrency", "2", "--seed", "4"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let t = Instant::now();
    while get_json(dash, "/api/live")["live_lines"].as_u64().unwrap() < seeded + 2000 {
        assert!(t.elapsed() < Duration::from_secs(60), "no traffic arrived");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let live = get_json(dash, "/api/live");
    assert_eq!(live["service"], "running");
    assert_eq!(live["experiment"], "E");
    assert!(live["rps"].as_f64().unwrap() > 0.0, "{live}");
    let next = live["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["endpoint"] == "next")
        .unwrap();
    assert!(next["p99_ms"].as_f64().unwrap() > 0.0, "{live}");
    assert_eq!(live["treatments"].as_array().unwrap().len(), 2);

    // The reload button's endpoint takes the admin token, and only it.
    let (status, body) = http(dash, "POST", "/api/reload", Some("wrong"));
    assert_eq!(status, 401, "{body}");
    let (status, body) = http(dash, "POST", "/api/reload", Some("let-me-in"));
    assert!(status == 200 && body.contains("reloaded"), "{body}");
    let (status, body) = http(dash, "GET", "/api/experiment?experiment=NOPE", None);
    assert!(status == 404 && body.contains("NOPE"), "{body}");

    if let Some(browser) = chromium() {
        let profile = tempfile::tempdir().unwrap();
        let url = format!("http://127.0.0.1:{dash}/dashboard");
        // The budget lets the page's polling run (and its fetches answer) before the dump.
        let dump = |size: &str| {
            let out = headless(
                browser,
                profile.path(),
                &[
                    "--virtual-time-budget=4000",
                    &format!("--window-size={size}"),
                    "--dump-dom",
                    &url,
                ],
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let first = dump("1400,1000");
        std::thread::sleep(Duration::from_millis(1500));
        let second = dump("1400,1000");
        for dom in [&first, &second] {
            assert!(text_of(dom, "rps").parse::<f64>().is_ok(), "{dom:.2000}");
            assert_eq!(text_of(dom, "service"), "running");
            assert!(dom.contains("always-valid"));
            assert!(dom.contains("<polyline"), "no chart drawn");
        }
        let lines = |dom: &str| text_of(dom, "log-lines").replace(',', "").parse::<u64>();
        assert!(
            lines(&second).unwrap() > lines(&first).unwrap(),
            "the page did not follow the traffic"
        );
        let phone = dump("390,844");
        for (dom, width) in [(&second, "1400"), (&phone, "390")] {
            // Every arm is named by what it serves: in the A/B table and the live treatments.
            assert!(
                dom.contains("C (control)<span class=\"rec\">sticky_artist</span>")
                    && dom.contains("T1<span class=\"rec\">random</span>"),
                "{width}: arms without their recommender"
            );
            // Pickers for the experiment and the metric, the primary metric chosen.
            let picker = dom.split("id=\"experiment-pick\"").nth(1).unwrap_or("");
            assert!(
                picker.contains("<option value=\"E\">"),
                "{width}: no experiment picker"
            );
            let metrics = dom.split("id=\"metric-pick\"").nth(1).unwrap_or("");
            assert!(
                metrics.contains("mean_time_per_session (primary)")
                    && metrics.contains("<option value=\"sessions\">"),
                "{width}: no metric picker"
            );
            // The split check and a ship decision per treatment.
            assert!(
                text_of(dom, "srm").contains("Split check passed"),
                "{width}"
            );
            assert!(
                dom.contains("<li><b>T1</b>") && dom.contains("class=\"verdict "),
                "{width}"
            );
            // The cumulative effect with its band.
            let cumulative = dom.split("id=\"chart-cumulative\"").nth(1).unwrap_or("");
            assert!(
                cumulative.contains("class=\"band\"") && cumulative.contains("<polyline"),
                "{width}: no cumulative band"
            );
            // Legends keep their series' colours (an inline style the stylesheet cannot override).
            assert!(
                dom.contains("class=\"legend\" style=\"fill:#1f77b4\""),
                "{width}"
            );
            // The A/B table's treatment, effect and interval fit without a sideways scroll.
            assert!(
                !overflows(dom, "ab"),
                "{width}: the A/B table needs a sideways scroll"
            );
        }
        for table in ["endpoints", "treatments"] {
            assert!(
                !overflows(&second, table),
                "1400: the {table} table is cut off"
            );
        }
        // Screenshots at a desktop's and a phone's width, the whole page (docs/dashboard.png,
        // docs/dashboard-phone.png).
        for (size, name) in [
            ("1400,2700", "dashboard.png"),
            ("390,4300", "dashboard-phone.png"),
        ] {
            let shot = screenshot_path(dir.path(), name);
            let out = headless(
                browser,
                profile.path(),
                &[
                    "--virtual-time-budget=4000",
                    &format!("--window-size={size}"),
                    "--hide-scrollbars",
                    &format!("--screenshot={}", shot.display()),
                    &url,
                ],
            );
            assert!(out.status.success());
            assert!(std::fs::metadata(&shot).unwrap().len() > 20_000);
        }
    } else {
        common::skipped("the browser check: no chromium installed (CI installs it)");
    }

    // Traffic stops; once every line is on disk the API equals `botify ab` on the same log.
    let _ = sim.0.kill();
    let _ = sim.0.wait();
    let t = Instant::now();
    let settled = loop {
        // Requests the service had read before the client died are still answered and logged:
        // a second without a new line (on a loaded machine they trickle in) is settled.
        let a = get_json(dash, "/api/live");
        std::thread::sleep(Duration::from_millis(1000));
        let b = get_json(dash, "/api/live");
        if a["live_lines"] == b["live_lines"] && b["log_flushed"] == b["log_lines"] {
            break b;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the log never settled"
        );
    };
    let api = get_json(dash, "/api/experiment");
    let out = bin()
        .args([
            "ab",
            "--experiment",
            "E",
            &d("log"),
            "--sequential",
            "--format",
            "json",
            // The service's experiments file: the arms are named by their recommenders too.
            "--experiments",
            exp.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let ab: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(api["read"]["events"], ab["read"]["events"], "{settled}");
    assert_eq!(api["treatments"], ab["treatments"]);
    let (x, y) = (rows(&api), rows(&ab));
    assert_eq!(x.len(), y.len());
    for ((t1, m1, a), (t2, m2, b)) in x.iter().zip(&y) {
        assert_eq!((t1, m1), (t2, m2));
        for (u, v) in a.iter().zip(b) {
            assert!((u - v).abs() <= 1e-9, "{t1} {m1}: {a:?} vs {b:?}");
        }
    }
}

#[test]
fn an_experiment_run_shows_its_stages_curves_and_report_on_the_dashboard() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        "name = \"tiny\"\nseed = 7\n[world]\ntracks = 3000\nusers = 300\ndim = 16\n[day1]\nepisodes = 2000\n[train]\nk = 30\n[train.als]\nfactors = 8\niterations = 3\n[train.mf]\nfactors = 8\nepochs = 3\n[train.contextual]\ndim = 16\n[ab]\nepisodes = 2000\n",
    )
    .unwrap();
    // Port 0: the run binds a free port itself and prints it (a port picked here could be taken
    // by another process before the run binds it).
    let mut run = Proc(
        bin()
            .args(["experiment", "run", plan.to_str().unwrap(), "--out"])
            .arg(dir.path().join("run"))
            .args(["--dashboard", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut stdout = std::io::BufReader::new(run.0.stdout.take().unwrap());
    let mut out = String::new();
    let dash: u16 = loop {
        let before = out.len();
        assert!(
            stdout.read_line(&mut out).unwrap() > 0,
            "no dashboard line: {out}"
        );
        if let Some(url) = out[before..]
            .trim()
            .strip_prefix("dashboard: http://127.0.0.1:")
        {
            break url.trim_end_matches("/dashboard").parse().unwrap();
        }
    };
    wait_for_port(dash);
    let t = Instant::now();
    let mut saw_service = false;
    let status = loop {
        let r = get_json(dash, "/api/run");
        saw_service |= get_json(dash, "/api/live")["service"] == "running";
        if r["finished"] == true {
            break r;
        }
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "the run never finished"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        saw_service,
        "the run's service never showed on the dashboard"
    );
    assert_eq!(status["name"], "tiny");
    assert!(status["error"].is_null(), "{status}");
    let stages: Vec<&str> = status["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        stages.contains(&"world") && stages.contains(&"analysis"),
        "{stages:?}"
    );
    assert!(
        status["stages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["seconds"].as_f64().is_some()),
        "{status}"
    );
    // MF's epochs came in as a learning curve.
    assert!(
        status["epochs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["model"] == "mf" && e["train_loss"].is_number()),
        "{status}"
    );
    assert_eq!(status["report"], "/report");
    let (code, html) = http(dash, "GET", "/report", None);
    assert!(code == 200 && html.contains("mean_time_per_session"));
    // The report names the arms by what they serve (the plan's specs).
    assert!(
        html.contains("<td class=\"rec\">sticky_artist</td>"),
        "{html:.3000}"
    );
    // Training rounds: a model trained after each collection day counts its rounds apart.
    let epochs = status["epochs"].as_array().unwrap();
    assert!(epochs.iter().all(|e| e["round"].as_u64().unwrap() >= 1));
    if let Some(browser) = chromium() {
        let profile = tempfile::tempdir().unwrap();
        let out = headless(
            browser,
            profile.path(),
            &[
                "--virtual-time-budget=3000",
                "--window-size=1400,1000",
                "--dump-dom",
                &format!("http://127.0.0.1:{dash}/dashboard"),
            ],
        );
        let dom = String::from_utf8_lossy(&out.stdout);
        let curves = dom.split("id=\"curves\"").nth(1).unwrap_or("");
        let titles: Vec<&str> = curves
            .split("<h3>")
            .skip(1)
            .map(|t| t.split('<').next().unwrap())
            .collect();
        assert!(titles.iter().any(|t| t.starts_with("mf: ")), "{titles:?}");
        // Each chart says what it plots: a metric or a loss by epoch, never a placeholder.
        for t in &titles {
            assert!(
                !t.contains('—') && (t.contains(" by ") || t.contains("no held-out")),
                "{t}"
            );
        }
        // The cards no longer show the stopped service's last window as live.
        assert_eq!(text_of(&dom, "rps"), "–");
    }
    // The A/B stage's experiment stays readable after the service stopped.
    let ab = get_json(dash, "/api/experiment");
    assert_eq!(ab["experiment"], "AB");
    assert_eq!(get_json(dash, "/api/live")["service"], "stopped");
    // The page stays up after the run until Ctrl-C, which then ends the process cleanly.
    assert!(run.0.try_wait().unwrap().is_none());
    assert!(
        Command::new("kill")
            .args(["-INT", &run.0.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let t = Instant::now();
    let code = loop {
        if let Some(c) = run.0.try_wait().unwrap() {
            break c;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "Ctrl-C did not end it"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(code.success());
    stdout.read_to_string(&mut out).unwrap();
    assert!(
        out.contains(&format!("dashboard: http://127.0.0.1:{dash}/dashboard")),
        "{out}"
    );
}

/// Raises this process's soft file limit to `want` (within the hard limit); the limit reached.
fn raise_file_limit(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

/// 1,100 idle sockets on the dashboard's port of a service limited to 1,024 files: the
/// dashboard refuses what is over its own budget, and the service keeps answering and logging.
#[test]
fn idle_sockets_on_the_dashboard_cannot_starve_the_service() {
    if raise_file_limit(4096) < 1300 {
        common::skipped("this process may not open 1,300 files (hard limit too low)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let world = common::world(dir.path(), "world", 2000, 100, 8);
    let (port, dash) = (free_port(), free_port());
    let log = dir.path().join("log");
    let cmd = format!(
        "ulimit -n 1024 && exec {} serve --catalog {} --log-dir {} --port {port} --dashboard 127.0.0.1:{dash}",
        env!("CARGO_BIN_EXE_botify"),
        world.join("tracks.json").display(),
        log.display()
    );
    let mut serve = Proc(
        Command::new("sh")
            .args(["-c", &cmd])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port);
    wait_for_port(dash);
    let held: Vec<std::net::TcpStream> = (0..1100)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", dash)).ok())
        .collect();
    assert!(held.len() > 1000, "{} sockets opened", held.len());
    // Past its budget the dashboard answers a JSON 503 at once and closes (read before writing:
    // a request sent to a closing socket may reset it).
    let mut refused = std::net::TcpStream::connect(("127.0.0.1", dash)).unwrap();
    refused
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    let _ = refused.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too many open connections"), "{answer}");
    let post = |user: u32| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let body = r#"{"track": 1, "time": 0.5}"#;
        write!(
            s,
            "POST /next/{user} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text[9..12].to_string()
    };
    for user in 0..200 {
        assert_eq!(post(user), "200");
    }
    drop(held);
    let t = Instant::now();
    while http(dash, "GET", "/api/live", None).0 != 200 {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the dashboard came back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let ok = Command::new("kill")
        .args(["-TERM", &serve.0.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = serve.0.wait().unwrap();
    let mut err = String::new();
    serve
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
    assert!(!err.contains("Too many open files"), "{err}");
    let lines = std::fs::read_to_string(log.join("data.json")).unwrap();
    assert_eq!(lines.lines().count(), 200);
}
