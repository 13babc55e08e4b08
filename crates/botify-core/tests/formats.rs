//! World file formats: round trips and corrupted inputs (property tests on real files).

use botify_core::catalog::{Catalog, Track};
use botify_core::users::{self, User};
use botify_core::world::write_json_lines;
use proptest::prelude::*;

fn track_strategy(id: u32) -> impl Strategy<Value = Track> {
    (
        "[A-Za-z \\-'\"\\\\é]{1,20}",
        "[A-Za-z0-9 ()\\-]{0,30}",
        proptest::option::of("[a-z ]{1,10}"),
        proptest::option::of(1900u16..2030),
        proptest::option::of(30.0f32..900.0),
        proptest::option::of(0.0f32..1.0),
    )
        .prop_map(move |(artist, title, genre, year, duration, pop)| Track {
            track: id,
            artist,
            title,
            genre,
            year,
            duration,
            mood: None,
            pop,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn catalogue_round_trips(tracks in (1usize..30).prop_flat_map(|n| (0..n as u32).map(track_strategy).collect::<Vec<_>>())) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tracks.json");
        let c = Catalog::from_tracks(tracks.clone()).unwrap();
        c.write(&path).unwrap();
        let back = Catalog::load(&path).unwrap();
        prop_assert_eq!(back.tracks, tracks);
        prop_assert_eq!(back.artists.len(), c.artists.len());
    }

    #[test]
    fn users_round_trip(n in 1usize..20, bias in 0.0f32..1.0, interests in proptest::collection::vec(0u32..50, 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.json");
        let us: Vec<User> = (0..n as u32).map(|u| User {
            user: u,
            interests: interests.clone(),
            consume_bias: bias,
            consume_sharpness: 8.0,
            interest_neighbours: if u % 2 == 0 { Some(5) } else { None },
            session_budget: None,
            artist_discount_gamma: Some(0.5),
            openness: if u % 3 == 0 { Some(0.25) } else { None },
        }).collect();
        write_json_lines(&path, &us).unwrap();
        prop_assert_eq!(users::load(&path, 50).unwrap(), us);
    }

    #[test]
    fn corrupted_files_are_errors_with_a_line_not_panics(cut in 0usize..400, junk in proptest::collection::vec(any::<u8>(), 0..20)) {
        let dir = tempfile::tempdir().unwrap();
        let tracks: Vec<Track> = (0..5).map(|i| Track { track: i, artist: "a".into(), title: "t".into(), genre: None, year: None, duration: None, mood: None, pop: None }).collect();
        let path = dir.path().join("tracks.json");
        Catalog::from_tracks(tracks).unwrap().write(&path).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let at = cut.min(bytes.len());
        bytes.splice(at..at, junk.iter().copied());
        std::fs::write(&path, &bytes).unwrap();
        if let Err(e) = Catalog::load(&path) {
            prop_assert!(e.to_string().contains("tracks.json"), "{}", e);
        }
        let upath = dir.path().join("users.json");
        std::fs::write(&upath, &bytes).unwrap();
        prop_assert!(users::load(&upath, 5).is_err());
    }
}
