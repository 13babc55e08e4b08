//! The service over real HTTP: endpoints, the bad-input matrix, history under concurrency, hot
//! reload, the event log after a graceful stop, and Redis (a real server) including an outage.

mod common;
use botify_core::eventlog::{LogWriter, Rotation};
use botify_server::{RedisTarget, ServerConfig, build_state, router};
use common::*;

/// (method, path, content type, body, expected status, what the error says)
type Case<'a> = (&'a str, &'a str, Option<&'a str>, String, u16, &'a str);

fn cfg(world: &World, experiments: Option<std::path::PathBuf>) -> ServerConfig {
    ServerConfig {
        catalog: world.catalog(),
        experiments,
        log_dir: world.path("log"),
        rotation: Rotation::default(),
        redis: None,
        admin_token: None,
        limits: botify_server::Limits::default(),
        hosted: Default::default(),
        dashboard: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn course_endpoints_answer() {
    let world = World::new();
    let svc = Service::start(&world, None, None, None).await;
    let (s, b) = get(svc.addr, "/").await;
    assert_eq!((s, json(&b)["status"].as_str()), (200, Some("alive")));
    let (s, b) = get(svc.addr, "/track/7").await;
    assert_eq!(s, 200);
    assert_eq!(json(&b)["track"], 7);
    let (s, b) = post(svc.addr, "/next/42", r#"{"track": 7, "time": 0.5}"#).await;
    assert_eq!(s, 200);
    let v = json(&b);
    assert_eq!(v["user"], 42);
    assert!(v["track"].as_u64().unwrap() < 2000);
    let (s, b) = post(svc.addr, "/last/42", r#"{"track": 7, "time": 1}"#).await;
    assert_eq!((s, json(&b)), (200, serde_json::json!({"user": 42})));
    let (s, b) = get(svc.addr, "/health").await;
    assert_eq!((s, json(&b)["store"].as_str()), (200, Some("embedded")));
    let (s, m) = get(svc.addr, "/metrics").await;
    assert_eq!(s, 200);
    assert!(
        m.contains("botify_requests_total{endpoint=\"next\",status=\"2xx\"} 1"),
        "{m}"
    );
    assert!(m.contains("botify_recommendation_duration_seconds_count{experiment=\"DEFAULT\""));
    // Only the /metrics request itself is being handled; the finished ones left the gauge.
    assert!(m.contains("botify_requests_in_flight 1\n"), "{m}");
    assert!(m.contains("botify_history_users 1\n"), "{m}");
    let report = svc.stop().await;
    assert_eq!(report.answered, 2);
    let lines = log_lines(&world.path("log"));
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["message"], "next");
    assert_eq!(lines[0]["time"], 0.5);
    assert_eq!(lines[0]["recommendation"], v["track"]);
    assert_eq!(lines[1]["recommendation"], serde_json::Value::Null);
    assert!(lines[0]["experiments"]["DEFAULT"].is_string());
    assert!(lines[0]["latency"].as_f64().unwrap() >= 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_a_clear_4xx_and_touches_nothing() {
    let world = World::new();
    let log = LogWriter::open(&world.path("log"), Rotation::default()).unwrap();
    let state = build_state(&cfg(&world, None), &log).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(state.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let bad_users: [(&str, &str); 9] = [
        ("abc", "non-negative integer"),
        ("-5", "non-negative integer"),
        ("1.5", "non-negative integer"),
        ("0x10", "non-negative integer"),
        ("1e3", "non-negative integer"),
        ("%20", "non-negative integer"),
        ("%ff", "non-negative integer"),
        ("99999999999", "out of range"),
        ("18446744073709551616", "non-negative integer"),
    ];
    let user_paths: Vec<(String, &str)> = ["/next/", "/last/"]
        .iter()
        .flat_map(|e| {
            bad_users
                .iter()
                .map(move |(u, says)| (format!("{e}{u}"), *says))
        })
        .collect();
    let ok = r#"{"track": 1, "time": 0.5}"#;
    let big = format!("{{\"track\": 1, \"time\": 0.5 {}}}", " ".repeat(2000));
    let j = Some("application/json");
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("POST", "/next/1", j, "{".into(), 400, "not valid JSON"),
        ("POST", "/next/1", j, "".into(), 400, "not valid JSON"),
        ("POST", "/next/1", j, "[]".into(), 400, "JSON object"),
        ("POST", "/next/1", j, "\"track\"".into(), 400, "JSON object"),
        ("POST", "/next/1", j, "null".into(), 400, "JSON object"),
        ("POST", "/next/1", j, r#"{"time": 0.5}"#.into(), 400, "missing field \"track\""),
        ("POST", "/next/1", j, r#"{"track": 1}"#.into(), 400, "missing field \"time\""),
        ("POST", "/next/1", j, r#"{"track": 1, "time": 0.5, "extra": 1}"#.into(), 400, "unknown field \"extra\""),
        ("POST", "/next/1", j, r#"{"track": "1", "time": 0.5}"#.into(), 400, "\"track\" must be an integer"),
        ("POST", "/next/1", j, r#"{"track": 1.5, "time": 0.5}"#.into(), 400, "non-negative integer"),
        ("POST", "/next/1", j, r#"{"track": -1, "time": 0.5}"#.into(), 400, "non-negative integer"),
        ("POST", "/next/1", j, r#"{"track": true, "time": 0.5}"#.into(), 400, "must be an integer"),
        ("POST", "/next/1", j, r#"{"track": 18446744073709551616, "time": 0.5}"#.into(), 400, "non-negative integer"),
        ("POST", "/next/1", j, r#"{"track": 1, "time": "0.5"}"#.into(), 400, "\"time\" must be a number"),
        ("POST", "/next/1", j, r#"{"track": 1, "time": null}"#.into(), 400, "\"time\" must be a number"),
        ("POST", "/next/1", j, r#"{"track": 1, "time": -0.1}"#.into(), 422, "in [0, 1]"),
        ("POST", "/next/1", j, r#"{"track": 1, "time": 1.01}"#.into(), 422, "in [0, 1]"),
        ("POST", "/next/1", j, r#"{"track": 1, "time": NaN}"#.into(), 400, "not valid JSON"),
        ("POST", "/next/1", j, r#"{"track": 1, "time": Infinity}"#.into(), 400, "not valid JSON"),
        ("POST", "/next/1", j, r#"{"track": 1, "time": 1e400}"#.into(), 400, "not valid JSON"),
        ("POST", "/next/1", j, r#"{"track": 99999, "time": 0.5}"#.into(), 422, "not in the catalogue"),
        ("POST", "/next/1", j, r#"{"track": 2000, "time": 0.5}"#.into(), 422, "not in the catalogue"),
        ("POST", "/next/1", j, format!("{ok}{{"), 400, "not valid JSON"),
        ("POST", "/next/abc", j, ok.into(), 400, "user must be a non-negative integer"),
        ("POST", "/next/-5", j, ok.into(), 400, "user must be a non-negative integer"),
        ("POST", "/next/1.5", j, ok.into(), 400, "user must be a non-negative integer"),
        ("POST", "/next/99999999999", j, ok.into(), 400, "out of range"),
        ("POST", "/next/1", j, big, 413, "larger than"),
        ("POST", "/next/1", Some("text/plain"), ok.into(), 415, "Content-Type"),
        ("POST", "/next/1", None, ok.into(), 415, "Content-Type"),
        ("GET", "/next/1", None, "".into(), 405, "use POST"),
        ("PUT", "/last/1", j, ok.into(), 405, "use POST"),
        ("POST", "/last/1", j, r#"{"track": 1}"#.into(), 400, "missing field \"time\""),
        ("POST", "/last/x", j, ok.into(), 400, "user must be"),
        ("GET", "/track/abc", None, "".into(), 400, "non-negative integer"),
        ("GET", "/track/99999", None, "".into(), 404, "not in the catalogue"),
        ("GET", "/nope", None, "".into(), 404, "no such endpoint"),
        ("POST", "/admin/reload", None, "".into(), 403, "disabled"),
        ("POST", "/next/1", j, "[10, 0.3]".into(), 400, "JSON object"),
        ("POST", "/next/1", Some("application/jsonx"), ok.into(), 415, "Content-Type"),
        ("POST", "/next/1", Some("application/json-patch+json"), ok.into(), 415, "Content-Type"),
        ("POST", "/next/%ff", j, ok.into(), 400, "user must be a non-negative integer"),
        ("POST", "/last/%ff", j, ok.into(), 400, "user must be a non-negative integer"),
        ("GET", "/track/%ff", None, "".into(), 400, "track must be a non-negative integer"),
    ];
    let mut cases = cases;
    // The same mistakes on both listen endpoints, and every way a path segment can be wrong.
    let endpoints = ["/next/7", "/last/7"];
    #[rustfmt::skip]
    let bodies: [(&str, u16, &str); 12] = [
        ("{}", 400, "missing field \"track\""),
        ("[10, 0.3]", 400, "JSON object"),
        ("[]", 400, "JSON object"),
        ("42", 400, "JSON object"),
        (r#"{"track": 1, "time": 0.5, "user": 3}"#, 400, "unknown field \"user\""),
        (r#"{"track": 1e2, "time": 0.5}"#, 400, "non-negative integer"),
        (r#"{"track": [1], "time": 0.5}"#, 400, "must be an integer"),
        (r#"{"track": 1, "time": [0.5]}"#, 400, "must be a number"),
        (r#"{"track": 1, "time": 2}"#, 422, "in [0, 1]"),
        (r#"{"track": 4294967296, "time": 0.5}"#, 422, "not in the catalogue"),
        ("{\"track\": 1, \"time\": 0.5", 400, "not valid JSON"),
        ("\u{feff}{\"track\": 1, \"time\": 0.5}", 400, "not valid JSON"),
    ];
    for e in endpoints {
        for (body, want, says) in bodies {
            cases.push(("POST", e, j, body.into(), want, says));
        }
        for ct in [
            "text/plain",
            "application/xml",
            "application/jsonx",
            "application/json-patch+json",
            "multipart/form-data",
            "json",
        ] {
            cases.push(("POST", e, Some(ct), ok.into(), 415, "Content-Type"));
        }
    }
    for (path, says) in &user_paths {
        cases.push(("POST", path, j, ok.into(), 400, says));
    }
    #[rustfmt::skip]
    let more: Vec<Case> = vec![
        ("GET", "/track/-1", None, "".into(), 400, "non-negative integer"),
        ("GET", "/track/1.5", None, "".into(), 400, "non-negative integer"),
        ("GET", "/track/4294967296", None, "".into(), 404, "not in the catalogue"),
        ("GET", "/track/18446744073709551616", None, "".into(), 400, "non-negative integer"),
        ("GET", "/track/%20", None, "".into(), 400, "non-negative integer"),
        ("DELETE", "/track/1", None, "".into(), 405, "use GET"),
        ("POST", "/track/1", j, ok.into(), 405, "use GET"),
        ("PATCH", "/", None, "".into(), 405, "use GET"),
        ("POST", "/health", j, "".into(), 405, "use GET"),
        ("POST", "/metrics", j, "".into(), 405, "use GET"),
        ("GET", "/last/1", None, "".into(), 405, "use POST"),
        ("DELETE", "/next/1", None, "".into(), 405, "use POST"),
        ("GET", "/admin/reload", None, "".into(), 405, "use POST"),
        ("GET", "/next", None, "".into(), 404, "no such endpoint"),
        ("POST", "/next/1/2", j, ok.into(), 404, "no such endpoint"),
        ("GET", "/track", None, "".into(), 404, "no such endpoint"),
        ("GET", "/admin", None, "".into(), 404, "no such endpoint"),
        ("GET", "/..%2f..%2fetc%2fpasswd", None, "".into(), 404, "no such endpoint"),
    ];
    cases.extend(more);
    assert!(cases.len() >= 100, "{} cases", cases.len());
    let mut table = String::from(
        "| # | request | Content-Type | body | status | error |\n| ---: | --- | --- | --- | ---: | --- |\n",
    );
    for (k, (method, path, ct, body, want, says)) in cases.iter().enumerate() {
        let (status, text) = request(addr, method, path, *ct, body.clone().into_bytes()).await;
        assert_eq!(status, *want, "{method} {path} {body:.60}: {text}");
        let v = json(&text);
        let msg = v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message: {text}"));
        assert!(
            msg.contains(says),
            "{method} {path} {body:.60}: {msg:?} should say {says:?}"
        );
        assert_eq!(v["status"], *want);
        let cell = |t: &str| t.replace('|', "\\|").replace('\n', " ");
        let shown: String = body.chars().take(48).collect();
        table.push_str(&format!(
            "| {} | `{method} {}` | {} | {} | {status} | {} |\n",
            k + 1,
            cell(path),
            ct.map_or("—".to_string(), |c| format!("`{c}`")),
            if body.is_empty() {
                "—".to_string()
            } else if body.len() > 48 {
                format!("`{}…` ({} bytes)", cell(&shown), body.len())
            } else {
                format!("`{}`", cell(body))
            },
            cell(msg)
        ));
    }
    // `BOTIFY_BAD_INPUT_TABLE=FILE` writes the cases and the answers as the table of
    // docs/reliability.md.
    if let Ok(path) = std::env::var("BOTIFY_BAD_INPUT_TABLE") {
        std::fs::write(path, table).unwrap();
    }
    // Nothing was logged or stored.
    assert_eq!(
        state
            .metrics
            .log_lines
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert!(state.store.history(1, 50).await.unwrap().is_empty());
    // A valid request still works afterwards, with media-type parameters too.
    assert_eq!(post(addr, "/next/1", ok).await.0, 200);
    let (s, _) = request(
        addr,
        "POST",
        "/next/1",
        Some("Application/JSON; charset=utf-8"),
        ok.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(state.store.history(1, 50).await.unwrap().len(), 2);
    server.abort();
    drop(state);
}

async fn concurrent_history(redis: Option<RedisTarget>) {
    let world = World::new();
    let exp = world.path("exp.toml");
    std::fs::write(&exp, "history = 1000\n[[experiment]]\nname = \"E\"\nbuckets = 2\ntreatments.C = { type = \"sticky_artist\" }\ntreatments.T1 = { type = \"random\" }\n").unwrap();
    let svc = Service::start(&world, Some(exp), redis, None).await;
    let addr = svc.addr;
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            tokio::spawn(async move {
                post(
                    addr,
                    "/next/7",
                    &format!("{{\"track\": {i}, \"time\": 0.25}}"),
                )
                .await
                .0
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let report = svc.stop().await;
    assert_eq!(report.answered, 200);
    assert_eq!(report.log_lines, 200);
    let mut tracks: Vec<u64> = log_lines(&world.path("log"))
        .iter()
        .map(|l| l["track"].as_u64().unwrap())
        .collect();
    tracks.sort_unstable();
    assert_eq!(tracks, (0..200).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_lose_no_history_embedded() {
    concurrent_history(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_lose_no_history_redis() {
    let Some(redis) = Redis::start() else { return };
    concurrent_history(Some(redis.target())).await;
    // Every append reached Redis.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let n: usize = redis::cmd("LLEN")
        .arg("botify:history:{7}")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(n, 200);
}

/// Homework designs keep their per-user state in the store's history: concurrent requests for one
/// user lose no update, and a user following the recommendations never gets a heard track back.
async fn homework_state(redis: Option<RedisTarget>) {
    let world = World::new();
    // Every track's neighbours: the next ten ids; user 9's personal list: 1000..1100.
    let i2i: String = (0..2000u32)
        .map(|t| {
            let recs: Vec<u32> = (1..=10).map(|d| (t + d) % 2000).collect();
            format!("{{\"track\": {t}, \"recommendations\": {recs:?}}}\n")
        })
        .collect();
    std::fs::write(world.path("i2i.jsonl"), i2i).unwrap();
    let personal: Vec<u32> = (1000..1100).collect();
    std::fs::write(
        world.path("users.jsonl"),
        format!("{{\"user\": 9, \"tracks\": {personal:?}}}\n"),
    )
    .unwrap();
    std::fs::write(world.path("top.json"), "[5, 6, 7]").unwrap();
    let exp = world.path("exp.toml");
    std::fs::write(
        &exp,
        r#"history = 1000
route = "HW"
[[experiment]]
name = "HW"
buckets = 2
treatments.C = { type = "weighted_i2i", file = "i2i.jsonl", personal = "users.jsonl", top = "top.json", fallback = { type = "better_sticky", file = "i2i.jsonl" } }
treatments.T1 = { type = "better_sticky", file = "i2i.jsonl", fallback = { type = "weighted_i2i", file = "i2i.jsonl", personal = "users.jsonl", top = "top.json" } }
"#,
    )
    .unwrap();
    let svc = Service::start(&world, Some(exp), redis, None).await;
    let addr = svc.addr;
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            tokio::spawn(async move {
                post(
                    addr,
                    "/next/7",
                    &format!("{{\"track\": {i}, \"time\": 0.9}}"),
                )
                .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().0, 200);
    }
    // One listener follows the recommendations, skipping every third one.
    let mut heard = std::collections::HashSet::from([0u64]);
    let mut track = 0u64;
    for step in 0..60 {
        let time = if step % 3 == 2 { 0.1 } else { 0.9 };
        let (status, body) = post(
            addr,
            "/next/9",
            &format!("{{\"track\": {track}, \"time\": {time}}}"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        track = json(&body)["track"].as_u64().unwrap();
        assert!(heard.insert(track), "step {step}: {track} was heard before");
    }
    let report = svc.stop().await;
    assert_eq!(report.answered, 160);
    let lines = log_lines(&world.path("log"));
    let user7 = lines.iter().filter(|l| l["user"] == 7).count();
    assert_eq!(user7, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn homework_state_is_kept_in_the_embedded_store() {
    homework_state(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn homework_state_is_kept_in_redis() {
    let Some(redis) = Redis::start() else { return };
    homework_state(Some(redis.target())).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    for (user, n) in [(7, 100usize), (9, 60)] {
        let len: usize = redis::cmd("LLEN")
            .arg(format!("botify:history:{{{user}}}"))
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(len, n, "user {user}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_backends_agree() {
    use botify_server::store::{EmbeddedStore, RedisStore, Store};
    let limits = botify_server::Limits::default();
    let mut stores = vec![Store::Embedded(EmbeddedStore::new(
        100,
        1 << 30,
        Default::default(),
    ))];
    let redis = Redis::start();
    if let Some(r) = &redis {
        stores.push(Store::Redis(
            RedisStore::connect(&r.target(), &limits, Default::default())
                .await
                .unwrap(),
        ));
    }
    for store in &stores {
        store_keeps_the_last_entries(store).await;
    }
}

async fn store_keeps_the_last_entries(store: &botify_server::store::Store) {
    use botify_recs::Listen;
    for i in 0..30u32 {
        store
            .push(
                5,
                Listen {
                    track: i,
                    time: 0.5,
                    rec: (i % 3 != 0).then_some(i + 1),
                },
                10,
            )
            .await
            .unwrap();
    }
    let h = store.history(5, 10).await.unwrap();
    assert_eq!(h.len(), 10, "{}", store.name());
    assert_eq!(h[0].track, 20);
    assert_eq!(
        h[9],
        Listen {
            track: 29,
            time: 0.5,
            rec: Some(30)
        }
    );
    assert_eq!(store.history(5, 3).await.unwrap()[0].track, 27);
    assert!(store.history(6, 10).await.unwrap().is_empty());
    assert!(store.healthy().await);
}

#[test]
fn the_embedded_store_forgets_the_least_recently_used_beyond_its_cap() {
    use botify_recs::Listen;
    use botify_server::store::EmbeddedStore;
    let evictions = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    // 640 users: 10 per shard.
    let store = EmbeddedStore::new(640, 1 << 30, evictions.clone());
    let listen = Listen {
        track: 1,
        time: 0.5,
        rec: None,
    };
    for user in 0..100_000u32 {
        store.push(user, listen, 10);
        // User 7 keeps listening: always recently used.
        store.push(7, listen, 10);
    }
    assert!(store.users() <= 640, "{}", store.users());
    assert_eq!(
        evictions.load(std::sync::atomic::Ordering::Relaxed),
        100_000 - store.users() as u64
    );
    assert_eq!(store.history(7, 10).len(), 10);
    // The newest users are remembered, the oldest forgotten.
    assert_eq!(store.history(99_999, 10).len(), 1);
    assert!(store.history(3, 10).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_history_keys_expire() {
    use botify_recs::Listen;
    use botify_server::store::RedisStore;
    let Some(r) = Redis::start() else { return };
    let limits = botify_server::Limits {
        history_ttl: Some(std::time::Duration::from_secs(60)),
        ..botify_server::Limits::default()
    };
    let store = RedisStore::connect(&r.target(), &limits, Default::default())
        .await
        .unwrap();
    let listen = Listen {
        track: 1,
        time: 0.5,
        rec: None,
    };
    store.push(42, listen, 10).await.unwrap();
    let client = redis::Client::open(r.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg("botify:history:{42}")
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(ttl > 50_000 && ttl <= 60_000, "{ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_swaps_recommenders_and_rejects_bad_configs() {
    let world = World::new();
    let exp = world.path("exp.toml");
    let recs = world.path("recs.jsonl");
    std::fs::write(&recs, "{\"user\": 3, \"tracks\": [1234]}\n").unwrap();
    std::fs::write(&exp, "[[experiment]]\nname = \"E\"\nbuckets = 2\ntreatments.C = { type = \"random\" }\ntreatments.T1 = { type = \"random\" }\n").unwrap();
    let svc = Service::start(&world, Some(exp.clone()), None, Some("s3cret")).await;
    let reload = |token: &'static str| admin_reload(svc.addr, token);
    assert_eq!(reload("wrong").await.0, 401);
    // Switch both treatments to an indexed list: user 3 always gets track 1234.
    std::fs::write(&exp, "[[experiment]]\nname = \"E\"\nbuckets = 2\ntreatments.C = { type = \"indexed\", file = \"recs.jsonl\" }\ntreatments.T1 = { type = \"indexed\", file = \"recs.jsonl\" }\n").unwrap();
    let (s, b) = reload("s3cret").await;
    assert_eq!(s, 200, "{b}");
    for _ in 0..5 {
        let (_, b) = post(svc.addr, "/next/3", r#"{"track": 1, "time": 1.0}"#).await;
        assert_eq!(json(&b)["track"], 1234);
    }
    // A broken file is rejected and the running configuration stays.
    std::fs::write(&exp, "[[experiment]]\nname = \"E\"\nbuckets = 2\ntreatments.C = { type = \"indexed\", file = \"missing.jsonl\" }\ntreatments.T1 = { type = \"random\" }\n").unwrap();
    let (s, b) = reload("s3cret").await;
    assert_eq!(s, 422, "{b}");
    assert!(
        json(&b)["error"]
            .as_str()
            .unwrap()
            .contains("missing.jsonl"),
        "{b}"
    );
    let (_, b) = post(svc.addr, "/next/3", r#"{"track": 1, "time": 1.0}"#).await;
    assert_eq!(json(&b)["track"], 1234);
    let (_, m) = get(svc.addr, "/metrics").await;
    assert!(
        m.contains("botify_reloads_total 1") && m.contains("botify_reload_failures_total 1"),
        "{m}"
    );
    // An item-to-item control: /track/{id} shows its list as the course's `recommendations`.
    std::fs::write(
        world.path("i2i.jsonl"),
        "{\"track\": 5, \"recommendations\": [9, 8, 7]}\n",
    )
    .unwrap();
    std::fs::write(&exp, "[[experiment]]\nname = \"E\"\nbuckets = 2\ntreatments.C = { type = \"contextual\", file = \"i2i.jsonl\" }\ntreatments.T1 = { type = \"random\" }\n").unwrap();
    assert_eq!(reload("s3cret").await.0, 200);
    let v = json(&get(svc.addr, "/track/5").await.1);
    assert_eq!(
        (v["track"].clone(), v["recommendations"].clone()),
        (serde_json::json!(5), serde_json::json!([9, 8, 7]))
    );
    assert_eq!(
        json(&get(svc.addr, "/track/6").await.1)["recommendations"],
        serde_json::json!([])
    );
    // Per-treatment latencies follow the routing experiment: the same arms (C, T1 of E) kept
    // counting across the reloads above; another experiment's arms start from zero.
    let count = |m: &str, experiment: &str| -> u64 {
        let prefix =
            format!("botify_recommendation_duration_seconds_count{{experiment=\"{experiment}\"");
        m.lines()
            .filter(|l| l.starts_with(&prefix))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum()
    };
    let (_, m) = get(svc.addr, "/metrics").await;
    assert_eq!(count(&m, "E"), 6, "{m}");
    std::fs::write(&exp, "[[experiment]]\nname = \"F\"\nbuckets = 2\ntreatments.C = { type = \"random\" }\ntreatments.T1 = { type = \"random\" }\n").unwrap();
    assert_eq!(reload("s3cret").await.0, 200);
    post(svc.addr, "/next/3", r#"{"track": 1, "time": 1.0}"#).await;
    let (_, m) = get(svc.addr, "/metrics").await;
    assert_eq!(count(&m, "F"), 1, "{m}");
    assert!(!m.contains("experiment=\"E\""), "{m}");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_with_redis_down_reads_local_files_and_says_so() {
    let Some(redis) = Redis::start() else { return };
    let world = World::new();
    let exp = world.path("exp.toml");
    std::fs::write(
        world.path("recs.jsonl"),
        "{\"user\": 3, \"tracks\": [1234]}\n",
    )
    .unwrap();
    std::fs::write(&exp, "[[experiment]]\nname = \"E\"\nbuckets = 2\ntreatments.C = { type = \"indexed\", file = \"recs.jsonl\" }\ntreatments.T1 = { type = \"indexed\", file = \"recs.jsonl\" }\n").unwrap();
    let svc = Service::start(&world, Some(exp), Some(redis.target()), Some("tok")).await;
    drop(redis);
    let (s, b) = admin_reload(svc.addr, "tok").await;
    assert_eq!(s, 200, "{b}");
    assert!(
        json(&b)["message"]
            .as_str()
            .unwrap()
            .contains("read from local files"),
        "{b}"
    );
    let (_, m) = get(svc.addr, "/metrics").await;
    assert!(m.contains("botify_data_local_fallbacks_total 1"), "{m}");
    let (_, b) = post(svc.addr, "/next/3", r#"{"track": 1, "time": 1.0}"#).await;
    assert_eq!(json(&b)["track"], 1234);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_and_hang_degrade_then_recover() {
    let Some(redis) = Redis::start() else { return };
    let port = redis.port;
    let world = World::new();
    let svc = Service::start(&world, None, Some(redis.target()), None).await;
    let body = r#"{"track": 5, "time": 0.5}"#;
    assert_eq!(post(svc.addr, "/next/1", body).await.0, 200);
    drop(redis);
    // Redis is gone: answers keep coming, errors are counted.
    for _ in 0..5 {
        assert_eq!(post(svc.addr, "/next/1", body).await.0, 200);
    }
    // Degraded but able to answer: it stays ready (200) so a balancer keeps it in rotation.
    let (s, b) = get(svc.addr, "/health").await;
    assert_eq!((s, json(&b)["status"].as_str()), (200, Some("degraded")));
    assert_eq!(json(&b)["store_ok"], false);
    let (_, m) = get(svc.addr, "/metrics").await;
    let errors = |m: &str| -> u64 {
        m.lines()
            .find(|l| l.starts_with("botify_store_errors_total "))
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    };
    // The first failure opens the circuit breaker; the rest skip Redis without waiting.
    let skipped = |m: &str| -> u64 {
        m.lines()
            .find(|l| l.starts_with("botify_store_skipped_total "))
            .and_then(|l| l.split(' ').nth(1)?.parse().ok())
            .unwrap()
    };
    assert!(errors(&m) >= 1 && errors(&m) + skipped(&m) >= 5, "{m}");
    assert!(json(&get(svc.addr, "/health").await.1)["status"] == "degraded");
    // Redis is back on the same port: the service recovers by itself.
    let back = Redis::start_on(port).unwrap();
    let mut recovered = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let count = |m: &str| errors(m) + skipped(m);
        let before = count(&get(svc.addr, "/metrics").await.1);
        assert_eq!(post(svc.addr, "/next/1", body).await.0, 200);
        if count(&get(svc.addr, "/metrics").await.1) == before {
            recovered = true;
            break;
        }
    }
    assert!(
        recovered,
        "the service did not recover after Redis came back"
    );
    assert_eq!(json(&get(svc.addr, "/health").await.1)["status"], "ok");
    // Redis hangs (SIGSTOP): connections stay open and nothing answers. Every request still gets
    // its 200 (the first ones after the command timeout), and /health says degraded.
    back.hang();
    for _ in 0..5 {
        assert_eq!(post(svc.addr, "/next/1", body).await.0, 200);
    }
    let (s, b) = get(svc.addr, "/health").await;
    assert_eq!((s, json(&b)["status"].as_str()), (200, Some("degraded")));
    back.resume();
    let mut healthy = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if json(&get(svc.addr, "/health").await.1)["status"] == "ok" {
            healthy = true;
            break;
        }
    }
    assert!(healthy, "the service did not recover after Redis resumed");
    // History is written again: the listen lands in Redis.
    assert_eq!(post(svc.addr, "/last/77", body).await.0, 200);
    let client = redis::Client::open(back.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let len: usize = redis::cmd("LLEN")
        .arg("botify:history:{77}")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(len, 1);
    let report = svc.stop().await;
    assert_eq!(report.answered, report.log_lines);
}

async fn history_reaches_recommenders(redis: Option<RedisTarget>) {
    let world = World::new();
    let exp = world.path("exp.toml");
    std::fs::write(
        world.path("i2i.jsonl"),
        "{\"track\": 1, \"recommendations\": [2, 3, 4]}\n",
    )
    .unwrap();
    std::fs::write(&exp, "[[experiment]]\nname = \"E\"\nbuckets = 2\ntreatments.C = { type = \"history_i2i\", file = \"i2i.jsonl\" }\ntreatments.T1 = { type = \"history_i2i\", file = \"i2i.jsonl\" }\n").unwrap();
    let svc = Service::start(&world, Some(exp), redis, None).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        let (s, b) = post(svc.addr, "/next/9", r#"{"track": 1, "time": 1.0}"#).await;
        assert_eq!(s, 200, "{b}");
        got.push(json(&b)["track"].as_u64().unwrap());
    }
    // The first neighbour not already recommended: the service passes the history along.
    assert_eq!(got, vec![2, 3, 4]);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_aware_recommenders_see_the_history_embedded() {
    history_reaches_recommenders(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_aware_recommenders_see_the_history_redis() {
    let Some(redis) = Redis::start() else { return };
    history_reaches_recommenders(Some(redis.target())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_recommendation_data_through_redis() {
    let Some(redis) = Redis::start() else { return };
    shared_data(redis.target()).await;
}

async fn shared_data(target: RedisTarget) {
    let world = World::new();
    let recs = world.path("recs.jsonl");
    let exp = world.path("exp.toml");
    std::fs::write(&recs, "{\"user\": 3, \"tracks\": [1777]}\n").unwrap();
    std::fs::write(&exp, "[[experiment]]\nname = \"E\"\nbuckets = 2\ntreatments.C = { type = \"indexed\", file = \"recs.jsonl\" }\ntreatments.T1 = { type = \"indexed\", file = \"recs.jsonl\" }\n").unwrap();
    let experiments = botify_recs::experiments::ExperimentsConfig::load(&exp).unwrap();
    let files = botify_recs::experiments::Router::data_files(&experiments);
    assert_eq!(files.len(), 1);
    botify_server::store::push_data(&target, &files).unwrap();
    // This replica has no copy of the file: it serves the shared one.
    std::fs::remove_file(&recs).unwrap();
    let svc = Service::start(&world, Some(exp.clone()), Some(target), None).await;
    let (s, b) = post(svc.addr, "/next/3", r#"{"track": 1, "time": 1.0}"#).await;
    assert_eq!((s, json(&b)["track"].as_u64()), (200, Some(1777)), "{b}");
    svc.stop().await;
    // Without Redis the missing file is a clear start-up error.
    let log = LogWriter::open(&world.path("log2"), Rotation::default()).unwrap();
    let err = build_state(&cfg(&world, Some(exp)), &log)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("recs.jsonl"), "{err}");
}

/// Raw bytes on a fresh connection; what the server sends back until it closes (or `wait`).
async fn raw_exchange(addr: std::net::SocketAddr, bytes: &[u8], wait: Duration) -> (String, bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    // A refusing server may close before all is written: what it answered is what counts.
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    let closed = tokio::time::timeout(wait, s.read_to_end(&mut out))
        .await
        .is_ok();
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

use std::time::Duration;

fn short_limits() -> botify_server::Limits {
    botify_server::Limits {
        idle_timeout: Duration::from_millis(500),
        header_timeout: Duration::from_millis(500),
        body_timeout: Duration::from_millis(500),
        max_connections: Some(40),
        ..botify_server::Limits::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_cut_off_and_real_requests_still_answer() {
    let world = World::new();
    let svc = Service::start_with(&world, None, None, None, short_limits()).await;
    let body = r#"{"track": 5, "time": 0.5}"#;
    // Slow headers: half a request line, then nothing. The server closes the connection.
    let (_, closed) = raw_exchange(
        svc.addr,
        b"POST /next/1 HTTP/1.1\r\nHost: x\r\n",
        Duration::from_secs(30),
    )
    .await;
    assert!(closed, "a half-sent header was held open");
    // A stalled body: headers promise 25 bytes, 10 arrive. A JSON 408, and nothing logged.
    let (answer, closed) = raw_exchange(
        svc.addr,
        b"POST /next/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 25\r\n\r\n{\"track\": ",
        Duration::from_secs(30),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 408") && answer.contains("\"status\":408"),
        "{answer}"
    );
    assert!(closed);
    // Fill every connection slot with idle connections: the next one is refused at once
    // with a JSON 503, and real requests work again once the idle ones time out.
    let mut idle = Vec::new();
    for _ in 0..40 {
        idle.push(tokio::net::TcpStream::connect(svc.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (answer, closed) = raw_exchange(
        svc.addr,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(30),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 503") && answer.contains("too many open connections"),
        "{answer}"
    );
    assert!(closed);
    let request = format!(
        "POST /next/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut answered = false;
    for _ in 0..300 {
        let (answer, _) = raw_exchange(svc.addr, request.as_bytes(), Duration::from_secs(30)).await;
        if answer.starts_with("HTTP/1.1 200") {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered, "idle connections were never cut off");
    let (_, m) = get(svc.addr, "/metrics").await;
    assert!(!m.contains("botify_connections_refused_total 0"), "{m}");
    drop(idle);
    let report = svc.stop().await;
    assert_eq!(report.answered, report.log_lines);
    assert_eq!(log_lines(&world.path("log")).len() as u64, report.log_lines);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_a_half_sent_body_ends_within_the_grace_and_flushes_the_log() {
    use tokio::io::AsyncWriteExt;
    let world = World::new();
    let limits = botify_server::Limits {
        body_timeout: Duration::from_secs(3600),
        shutdown_grace: Duration::from_millis(300),
        ..botify_server::Limits::default()
    };
    let svc = Service::start_with(&world, None, None, None, limits).await;
    for u in 0..20 {
        assert_eq!(
            post(
                svc.addr,
                &format!("/next/{u}"),
                r#"{"track": 5, "time": 0.5}"#
            )
            .await
            .0,
            200
        );
    }
    let mut half = tokio::net::TcpStream::connect(svc.addr).await.unwrap();
    half.write_all(b"POST /next/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 25\r\n\r\n{\"tr")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Without the grace this would wait for the body forever; the outer bound only turns a
    // hang into a failure.
    let report = tokio::time::timeout(Duration::from_secs(60), svc.stop())
        .await
        .expect("shutdown hung on a half-sent body");
    assert_eq!((report.answered, report.log_lines), (20, 20));
    assert_eq!(log_lines(&world.path("log")).len(), 20);
    drop(half);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_hyper_cannot_parse_get_json_errors_too() {
    let world = World::new();
    let svc = Service::start(&world, None, None, None).await;
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(300_000)
    );
    for (request, status) in [
        ("GARBAGE\r\n\r\n".to_string(), 400),
        ("GET / HTTP/1.1\r\nBad Header\r\n\r\n".to_string(), 400),
        (long_uri, 414),
        (big_header, 431),
    ] {
        let (answer, _) = raw_exchange(svc.addr, request.as_bytes(), Duration::from_secs(30)).await;
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status}")),
            "{answer:.200}"
        );
        assert!(head.contains("content-type: application/json"), "{head}");
        let v = json(body);
        assert_eq!(v["status"], status);
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    // The service goes on.
    assert_eq!(get(svc.addr, "/").await.0, 200);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_header_timeouts_are_apart() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let world = World::new();
    let limits = botify_server::Limits {
        idle_timeout: Duration::from_secs(5),
        header_timeout: Duration::from_millis(200),
        ..botify_server::Limits::default()
    };
    let svc = Service::start_with(&world, None, None, None, limits).await;
    // Idle for longer than the header timeout, well within the idle one: still served.
    let mut s = tokio::net::TcpStream::connect(svc.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    // A header that starts and never ends is cut at the header timeout, long before the idle one.
    let (_, closed) = raw_exchange(svc.addr, b"GET / HTTP/1.1\r\nHo", Duration::from_secs(3)).await;
    assert!(closed, "a stalled header outlived the header timeout");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_fails_health_checks_but_still_answers_until_it_ends() {
    let world = World::new();
    let limits = botify_server::Limits {
        drain: Duration::from_millis(800),
        ..botify_server::Limits::default()
    };
    let svc = Service::start_with(&world, None, None, None, limits).await;
    assert_eq!(get(svc.addr, "/health").await.0, 200);
    let addr = svc.addr;
    let stopping = tokio::spawn(svc.stop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A balancer's check now takes the replica out; requests already routed to it are answered.
    let (s, b) = get(addr, "/health").await;
    assert!(s == 503 && b.contains("draining"), "{s} {b}");
    let (s, b) = post(addr, "/next/4", r#"{"track": 1, "time": 0.5}"#).await;
    assert_eq!(s, 200, "{b}");
    let report = stopping.await.unwrap();
    assert_eq!((report.answered, report.log_lines), (1, 1));
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still listening"
    );
}

/// The service over a real 3-master Redis Cluster: every per-user guarantee of the single-server
/// tests holds, users' keys spread over all masters, and data files are shared through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_keeps_history_and_shares_data() {
    use botify_recs::Listen;
    use botify_server::store::{RedisStore, Store};
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    // Each check as on one server, on an empty cluster (they reuse user ids).
    concurrent_history(Some(cluster.target())).await;
    cluster.flush();
    homework_state(Some(cluster.target())).await;
    cluster.flush();
    history_reaches_recommenders(Some(cluster.target())).await;
    cluster.flush();
    shared_data(cluster.target()).await;
    cluster.flush();

    let limits = botify_server::Limits {
        redis_timeout: Duration::from_secs(1),
        ..botify_server::Limits::default()
    };
    let store = Store::Redis(
        RedisStore::connect(&cluster.target(), &limits, Default::default())
            .await
            .unwrap(),
    );
    store_keeps_the_last_entries(&store).await;
    for user in 1000..1300u32 {
        for track in 0..3 {
            let l = Listen {
                track: user * 10 + track,
                time: 1.0,
                rec: None,
            };
            store.push(user, l, 50).await.unwrap();
        }
    }
    for user in 1000..1300u32 {
        let h = store.history(user, 50).await.unwrap();
        let tracks: Vec<u32> = h.iter().map(|l| l.track).collect();
        assert_eq!(tracks, vec![user * 10, user * 10 + 1, user * 10 + 2]);
    }
    // Hash tags put each user in one slot; users spread over the three masters.
    let per_node = cluster.keys_per_node();
    assert!(per_node.iter().all(|&n| n >= 50), "{per_node:?}");
    // The service names the backend it uses.
    let svc = Service::start(&World::new(), None, Some(cluster.target()), None).await;
    let (s, health) = get(svc.addr, "/health").await;
    assert_eq!(s, 200, "{health}");
    assert_eq!(json(&health)["store"], "redis-cluster", "{health}");
    svc.stop().await;
}

#[test]
fn redis_flags_name_the_problem() {
    let both = RedisTarget::from_flags(Some("redis://a".into()), Some("redis://b"))
        .unwrap_err()
        .to_string();
    assert!(both.contains("not both"), "{both}");
    let empty = RedisTarget::from_flags(None, Some(" , "))
        .unwrap_err()
        .to_string();
    assert!(empty.contains("at least one node"), "{empty}");
    assert_eq!(
        RedisTarget::from_flags(None, Some("redis://a:1, redis://b:2")).unwrap(),
        Some(RedisTarget::Cluster(vec![
            "redis://a:1".into(),
            "redis://b:2".into()
        ]))
    );
    assert_eq!(RedisTarget::from_flags(None, None).unwrap(), None);
}

/// One client address cannot hold every connection: past the per-address cap its new
/// connections get a JSON 503 naming the address, while another address is still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let world = World::new();
    let limits = botify_server::Limits {
        max_connections: Some(40),
        max_per_address: Some(10),
        ..botify_server::Limits::default()
    };
    let svc = Service::start_with(&world, None, None, None, limits).await;
    let mut idle = Vec::new();
    for _ in 0..10 {
        idle.push(tokio::net::TcpStream::connect(svc.addr).await.unwrap());
    }
    // Let the service count them before the next one arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (answer, closed) = raw_exchange(
        svc.addr,
        b"GET / HTTP/1.1\r\nhost: x\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(closed && answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("from 127.0.0.1 (limit 10 per address)"),
        "{answer}"
    );
    // Another loopback address (Linux routes all of 127/8 to lo) is still served.
    let other = tokio::net::TcpSocket::new_v4().unwrap();
    if other.bind("127.0.0.2:0".parse().unwrap()).is_ok() {
        let mut s = other.connect(svc.addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    }
    // The address gets its places back as its connections close.
    drop(idle);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(get(svc.addr, "/").await.0, 200);
    let (_, m) = get(svc.addr, "/metrics").await;
    assert!(m.contains("botify_connections_refused_total 1\n"), "{m}");
    svc.stop().await;
}

/// Users are read as the course's clients write them (str(int)), and a body names each field
/// once: anything else is a 400 that says so, and nothing is logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_fields_are_read_exactly_as_written() {
    let world = World::new();
    let svc = Service::start(&world, None, None, None).await;
    let body = r#"{"track": 5, "time": 0.5}"#;
    for user in ["+5", "007", "-1", "5.0", " 5"] {
        let (status, b) = post(
            svc.addr,
            &format!("/next/{}", user.replace(' ', "%20")),
            body,
        )
        .await;
        assert_eq!(status, 400, "{user}: {b}");
        assert!(
            json(&b)["error"].as_str().unwrap().contains("user must be"),
            "{b}"
        );
    }
    assert_eq!(post(svc.addr, "/next/0", body).await.0, 200);
    assert_eq!(post(svc.addr, "/next/10", body).await.0, 200);
    let (status, b) = post(
        svc.addr,
        "/next/1",
        r#"{"track": 1, "track": 2, "time": 0.5}"#,
    )
    .await;
    assert_eq!(status, 400, "{b}");
    assert!(
        json(&b)["error"]
            .as_str()
            .unwrap()
            .contains("duplicate field `track`"),
        "{b}"
    );
    let report = svc.stop().await;
    assert_eq!((report.answered, report.log_lines), (2, 2));
}

/// Long histories cannot grow the embedded store past its byte budget: 20,000 users with 300
/// listens each (history 200) stay under a 4 MiB budget, the least recently used forgotten.
#[test]
fn the_embedded_store_holds_its_byte_budget_with_long_histories() {
    use botify_server::store::EmbeddedStore;
    let evictions = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let budget = 4 << 20;
    let store = EmbeddedStore::new(1_000_000, budget, evictions.clone());
    for user in 0..20_000u32 {
        for i in 0..300 {
            store.push(
                user,
                botify_recs::Listen {
                    track: i,
                    time: 0.5,
                    rec: Some(i + 1),
                },
                200,
            );
        }
    }
    assert!(store.bytes() <= budget, "{} bytes", store.bytes());
    assert!(evictions.load(std::sync::atomic::Ordering::Relaxed) > 15_000);
    // The most recent user is whole: its last 200 listens in order.
    let h = store.history(19_999, 200);
    assert_eq!(h.len(), 200);
    assert_eq!((h[0].track, h[199].track), (100, 299));
}

/// One dead master of a 3-master Redis Cluster turns history off only for the users whose slots
/// it served: the circuit breakers are per slot group, so users on the other masters keep
/// reading and writing their history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_cluster_master_stops_history_only_for_its_own_users() {
    use botify_recs::Listen;
    use botify_server::store::RedisStore;
    let Some(mut cluster) = RedisCluster::start() else {
        return;
    };
    let limits = botify_server::Limits {
        redis_timeout: Duration::from_millis(300),
        ..botify_server::Limits::default()
    };
    let store = RedisStore::connect(&cluster.target(), &limits, Default::default())
        .await
        .unwrap();
    let listen = |track| Listen {
        track,
        time: 0.5,
        rec: Some(track + 1),
    };
    let users: Vec<u32> = (0..300).collect();
    for &u in &users {
        store.push(u, listen(1), 50).await.unwrap();
    }
    // The users whose key lives on the master about to die.
    let on_dead: std::collections::HashSet<u32> = cluster.nodes[0]
        .cli(&["KEYS", "botify:history:*"])
        .lines()
        .filter_map(|k| {
            k.trim()
                .strip_prefix("botify:history:{")?
                .strip_suffix('}')?
                .parse()
                .ok()
        })
        .collect();
    assert!(
        on_dead.len() > 30 && on_dead.len() < 270,
        "{}",
        on_dead.len()
    );
    drop(cluster.nodes.remove(0));
    // A first round meets the dead master (and the client's view of the cluster settles).
    for &u in &users {
        let _ = store.push(u, listen(2), 50).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut kept = 0;
    for &u in users.iter().filter(|u| !on_dead.contains(u)) {
        store.push(u, listen(3), 50).await.unwrap();
        let h = store.history(u, 50).await.unwrap();
        assert_eq!(h.last().map(|l| l.track), Some(3), "user {u}");
        kept += 1;
    }
    assert!(kept > 30);
    let failed = {
        let mut n = 0;
        for &u in users.iter().filter(|u| on_dead.contains(u)) {
            n += usize::from(store.history(u, 50).await.is_err());
        }
        n
    };
    assert_eq!(
        failed,
        on_dead.len(),
        "the dead master's users have no history"
    );
    assert!(!store.ping().await, "the store reports itself degraded");
}

/// A slot moved to another master while the service runs (a resharding): the history MULTI of a
/// user in that slot follows the redirection, and the user's history moves with the slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_follows_a_slot_moved_to_another_master() {
    use botify_recs::Listen;
    use botify_server::store::{RedisStore, hash_slot};
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let limits = botify_server::Limits {
        redis_timeout: Duration::from_secs(1),
        ..botify_server::Limits::default()
    };
    let store = RedisStore::connect(&cluster.target(), &limits, Default::default())
        .await
        .unwrap();
    let user = 4242u32;
    let slot = hash_slot(user.to_string().as_bytes());
    let listen = |track| Listen {
        track,
        time: 0.5,
        rec: Some(track + 1),
    };
    store.push(user, listen(1), 50).await.unwrap();
    // Which master holds the slot now, and another one to move it to.
    let id = |n: &Redis| n.cli(&["CLUSTER", "MYID"]).trim().to_string();
    let key = format!("botify:history:{{{user}}}");
    let from = cluster
        .nodes
        .iter()
        .position(|n| n.cli(&["EXISTS", &key]).trim() == "1")
        .expect("the key is on one master");
    let to = (from + 1) % cluster.nodes.len();
    let (src, dst) = (&cluster.nodes[from], &cluster.nodes[to]);
    let s = slot.to_string();
    dst.cli(&["CLUSTER", "SETSLOT", &s, "IMPORTING", &id(src)]);
    src.cli(&["CLUSTER", "SETSLOT", &s, "MIGRATING", &id(dst)]);
    src.cli(&[
        "MIGRATE",
        "127.0.0.1",
        &dst.port.to_string(),
        "",
        "0",
        "5000",
        "KEYS",
        &key,
    ]);
    for n in &cluster.nodes {
        n.cli(&["CLUSTER", "SETSLOT", &s, "NODE", &id(dst)]);
    }
    // The client still routes the slot to the old master: the MULTI meets MOVED and follows it.
    store.push(user, listen(2), 50).await.unwrap();
    store.push(user, listen(3), 50).await.unwrap();
    let tracks: Vec<u32> = store
        .history(user, 50)
        .await
        .unwrap()
        .iter()
        .map(|l| l.track)
        .collect();
    assert_eq!(tracks, vec![1, 2, 3]);
    assert_eq!(dst.cli(&["LLEN", &key]).trim(), "3");
}
