//! `sequential` against the course's Sequential, side by side on the same lists: the course's
//! rule is written out here as the course's Python has it (`get_track_index` gives 0 for a track
//! not on the list, the answer is `recommendations[(index + 1) % len(recommendations)]`).

use botify_core::TrackId;
use botify_recs::baseline::{Sequential, Walk};
use botify_recs::data::UserLists;
use botify_recs::{Recommender, Request};
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

/// The course's `Sequential.recommend_next` for a user who has a list.
fn course_rule(recommendations: &[TrackId], prev_track: TrackId) -> TrackId {
    let mut index = 0;
    for (ix, &recommendation) in recommendations.iter().enumerate() {
        if recommendation == prev_track {
            index = ix;
            break;
        }
    }
    recommendations[(index + 1) % recommendations.len()]
}

fn sequential(list: Vec<TrackId>, walk: Walk) -> Sequential {
    Sequential {
        lists: Arc::new(UserLists::from_map(HashMap::from([(7, list)]))),
        walk,
    }
}

fn ask(s: &Sequential, user: u32, track: TrackId) -> Option<TrackId> {
    let req = Request {
        user,
        track,
        time: 1.0,
    };
    s.recommend(&req, &[], &mut botify_core::rng::stream(1, b"seq", 0))
}

proptest! {
    #[test]
    fn course_walk_answers_as_the_course_does(
        list in prop::collection::vec(0u32..40, 1..12),
        prev in 0u32..45,
    ) {
        let s = sequential(list.clone(), Walk::Course);
        prop_assert_eq!(ask(&s, 7, prev), Some(course_rule(&list, prev)));
        // A user without a list: the course asks its fallback, and so does the chain here.
        prop_assert_eq!(ask(&s, 8, prev), None);
    }

    #[test]
    fn a_whole_session_walks_the_same_tracks(list in prop::collection::vec(0u32..1000, 1..30), first in 0u32..1000) {
        let s = sequential(list.clone(), Walk::Course);
        let (mut ours, mut theirs) = (first, first);
        for _ in 0..2 * list.len() + 3 {
            ours = ask(&s, 7, ours).unwrap();
            theirs = course_rule(&list, theirs);
            prop_assert_eq!(ours, theirs);
        }
    }
}

#[test]
fn the_two_walks_differ_where_the_course_starts_and_ends() {
    let list = vec![3, 1, 4];
    let course = sequential(list.clone(), Walk::Course);
    let once = sequential(list, Walk::Once);
    // A session's first request: the previous track is not on the list.
    assert_eq!(ask(&course, 7, 99), Some(1));
    assert_eq!(ask(&once, 7, 99), Some(3));
    // Past the end: the course wraps, `once` hands over to the fallback.
    assert_eq!(ask(&course, 7, 4), Some(3));
    assert_eq!(ask(&once, 7, 4), None);
    // In between they agree.
    assert_eq!(ask(&course, 7, 3), ask(&once, 7, 3));
    // An empty list has nothing to walk (the course would divide by zero).
    assert_eq!(ask(&sequential(Vec::new(), Walk::Course), 7, 3), None);
}

#[test]
fn walk_is_read_from_a_spec_and_named_in_its_label() {
    use botify_recs::spec::RecommenderSpec;
    let course: RecommenderSpec =
        toml::from_str("type = \"sequential\"\nfile = \"ucf.jsonl\"").unwrap();
    assert_eq!(course.label(), "sequential(ucf.jsonl)");
    let once: RecommenderSpec =
        toml::from_str("type = \"sequential\"\nfile = \"ucf.jsonl\"\nwalk = \"once\"").unwrap();
    assert_eq!(once.label(), "sequential(ucf.jsonl, once)");
    let bad = toml::from_str::<RecommenderSpec>(
        "type = \"sequential\"\nfile = \"ucf.jsonl\"\nwalk = \"loop\"",
    )
    .unwrap_err()
    .to_string();
    assert!(bad.contains("course") && bad.contains("once"), "{bad}");
}
