//! Every experiment file under `examples/` parses and validates.

use botify_recs::experiments::ExperimentsConfig;

#[test]
fn example_experiment_files_are_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml")
            && std::fs::read_to_string(&p)
                .unwrap()
                .contains("[[experiment]]")
        {
            ExperimentsConfig::load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            n += 1;
        }
    }
    assert!(n >= 1);
}
