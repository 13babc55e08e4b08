//! Models recover planted structure: users in clusters like their cluster's tracks.

use botify_core::events::{Event, Message};
use botify_core::hash::FastMap;
use botify_core::rng::stream;
use botify_train::dataset::{Dataset, Split};
use botify_train::metrics::evaluate;
use botify_train::{als, i2i, mf, toppop, ucf};
use rand::Rng;
use std::collections::BTreeMap;

const CLUSTERS: u32 = 20;
const PER: u32 = 50;

fn planted() -> Dataset {
    let mut rng = stream(1, b"planted", 0);
    let mut events = Vec::new();
    let mut ts = 0;
    for user in 0..400u32 {
        let c = user % CLUSTERS;
        for s in 0..4u64 {
            let n = 6;
            for k in 0..n {
                ts += 1;
                let liked = rng.random::<f32>() < 0.8;
                let track = if liked {
                    c * PER + rng.random_range(0..PER)
                } else {
                    rng.random_range(0..CLUSTERS * PER)
                };
                events.push(Event {
                    message: if k + 1 == n {
                        Message::Last
                    } else {
                        Message::Next
                    },
                    timestamp: ts + s * 10,
                    user,
                    track,
                    time: if liked { 0.9 } else { 0.1 },
                    latency: 0.0,
                    recommendation: None,
                    experiments: BTreeMap::new(),
                    propensity: None,
                });
            }
        }
    }
    Dataset::from_events(events, (CLUSTERS * PER) as usize).unwrap()
}

#[test]
fn factor_models_and_cf_beat_popularity_on_planted_clusters() {
    let d = planted();
    let (train, test) = d.split(Split::Random, 0.2, 3);
    let heard = train.heard();
    let pos = test.positives(0.7);
    let k = 10;
    let tracks = d.tracks;
    let top = toppop::fit(&train, 200);
    let pop_lists: FastMap<u32, Vec<u32>> = train
        .users()
        .into_iter()
        .map(|u| {
            (
                u,
                top.iter()
                    .copied()
                    .filter(|t| !heard[&u].contains(t))
                    .take(k)
                    .collect(),
            )
        })
        .collect();
    let pop = evaluate(&pop_lists, &pos, k, tracks);
    let a = als::fit(
        &train,
        &als::Params {
            factors: 16,
            iterations: 8,
            ..Default::default()
        },
        |_, _| {},
    );
    let als_m = evaluate(&a.recommend(&heard, k), &pos, k, tracks);
    let mut curve = Vec::new();
    for loss in [mf::Loss::Bpr, mf::Loss::Warp] {
        let epochs = if loss == mf::Loss::Bpr { 60 } else { 15 };
        let m = mf::fit(
            &train,
            None,
            &mf::Params {
                loss,
                factors: 16,
                epochs,
                ..Default::default()
            },
            |e, _| {
                curve.push(e.loss);
                true
            },
        );
        let mf_m = evaluate(&m.recommend(&heard, k), &pos, k, tracks);
        println!("{loss:?} {mf_m:?}");
        assert!(
            mf_m.precision > 0.04 && mf_m.precision > 10.0 * pop.precision,
            "{loss:?} {mf_m:?} vs pop {pop:?}"
        );
    }
    assert!(
        curve.first().unwrap() > curve.last().unwrap(),
        "loss does not fall: {curve:?}"
    );
    let u = evaluate(
        &ucf::fit(&train, &ucf::Params::default(), &heard),
        &pos,
        k,
        tracks,
    );
    println!("pop {pop:?}\nals {als_m:?}\nucf {u:?}");
    for (name, m) in [("als", als_m), ("ucf", u)] {
        assert!(
            m.precision > 0.04 && m.precision > 10.0 * pop.precision,
            "{name} {m:?} vs pop {pop:?}"
        );
    }
    // Session co-occurrence neighbours stay inside the cluster.
    let n = i2i::fit(&train, &i2i::Params::default());
    let inside = n
        .iter()
        .flat_map(|(a, l)| l.iter().map(move |(b, _)| a / PER == b / PER))
        .filter(|&x| x)
        .count();
    let total: usize = n.iter().map(|(_, l)| l.len()).sum();
    assert!(inside as f64 > 0.9 * total as f64, "{inside}/{total}");
}

#[test]
fn item_features_give_cold_items_embeddings() {
    // Two items share an artist; one never appears in the logs.
    let mut cat_tracks = Vec::new();
    for t in 0..(CLUSTERS * PER) {
        cat_tracks.push(botify_core::Track {
            genre: Some("g".into()),
            duration: Some(200.0),
            pop: Some(0.5),
            ..botify_core::Track::new(t, format!("artist {}", t / PER), "x")
        });
    }
    let catalog = botify_core::Catalog::from_tracks(cat_tracks).unwrap();
    let d = planted();
    let cold = 7u32; // cluster 0
    let train = Dataset {
        tracks: d.tracks,
        listens: d
            .listens
            .iter()
            .filter(|l| l.track != cold)
            .copied()
            .collect(),
    };
    let p = mf::Params {
        factors: 16,
        epochs: 10,
        features: vec![mf::Feature::Artist],
        ..Default::default()
    };
    let m = mf::fit(&train, Some(&catalog), &p, |_, _| true);
    // The cold item scores higher for the users of its artist's cluster than for everyone else.
    let (items, bias) = m.item_matrix();
    let score = |u: u32| -> f32 {
        let row = m.users[&u];
        m.user_factors
            .row(row)
            .iter()
            .zip(items.row(cold as usize))
            .map(|(a, b)| a * b)
            .sum::<f32>()
            + bias[cold as usize]
    };
    let mean = |us: Vec<u32>| us.iter().map(|&u| score(u)).sum::<f32>() / us.len() as f32;
    let inside = mean((0..400u32).filter(|u| u % CLUSTERS == 0).collect());
    let outside = mean((0..400u32).filter(|u| u % CLUSTERS != 0).collect());
    assert!(
        inside > outside + 0.1,
        "cold item: cluster users {inside}, others {outside}"
    );
}
