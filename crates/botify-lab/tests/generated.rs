//! The files made from the model registry are up to date: docs/parameters.md and the typed
//! Python trainers. `BOTIFY_BLESS=1 cargo test -p botify-lab --test generated` writes them.

use botify_lab::models::reference;
use std::path::PathBuf;

fn up_to_date(relative: &str, text: String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative);
    if std::env::var_os("BOTIFY_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == text,
        "{relative} is stale: run BOTIFY_BLESS=1 cargo test -p botify-lab --test generated"
    );
}

#[test]
fn the_parameter_tables_come_from_the_registry() {
    up_to_date("docs/parameters.md", reference::markdown());
}

#[test]
fn the_python_trainers_come_from_the_registry() {
    up_to_date("python/botify/train.py", reference::python());
}
