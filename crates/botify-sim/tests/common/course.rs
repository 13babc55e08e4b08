//! The course's original world files beside this checkout, paired with an embedding matrix made
//! here (the course's tracks.npy is not public); `None` (and a skip noted) when they are absent.

use botify_core::catalog::Catalog;
use botify_core::npy::Embeddings;
use botify_core::{World, users};
use rand::Rng;
use std::path::PathBuf;

#[path = "../../../botify-server/tests/common/skip.rs"]
mod skip;

pub fn course_world() -> Option<World> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/course-data");
    if !dir.join("tracks.json").exists() {
        skip::skipped(&format!(
            "the course's files are not beside this checkout ({})",
            dir.display()
        ));
        return None;
    }
    let catalog = Catalog::load(&dir.join("tracks.json")).unwrap();
    let users = users::load(&dir.join("users.json"), catalog.len()).unwrap();
    // LightFM-like factors: not unit-norm, on the scale of the course's consume_bias (0–10).
    let mut rng = botify_core::rng::stream(1, b"course", 0);
    let dim = 100;
    let data: Vec<f32> = (0..catalog.len() * dim)
        .map(|_| rng.random_range(-0.6f32..0.6))
        .collect();
    Some(World {
        embeddings: Embeddings::new(catalog.len(), dim, data).unwrap(),
        catalog,
        users,
        dynamics: Default::default(),
    })
}
