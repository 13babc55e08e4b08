//! Every command block marked `<!-- runnable -->` in README.md and docs/*.md runs as written,
//! with this build's `botify` on PATH, from a fresh directory that sees the repository's
//! `examples/`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The shell blocks that follow a `<!-- runnable -->` line: (file, first line number, text).
fn runnable(file: &Path) -> Vec<(String, usize, String)> {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.trim() != "<!-- runnable -->" {
            continue;
        }
        let fence = lines.get(i + 1).copied().unwrap_or_default();
        assert!(
            fence.starts_with("```sh") || fence.starts_with("```bash"),
            "{}:{}: a runnable mark must stand right above a ```sh block",
            file.display(),
            i + 1
        );
        let body: Vec<&str> = lines[i + 2..]
            .iter()
            .take_while(|l| !l.starts_with("```"))
            .copied()
            .collect();
        out.push((file.display().to_string(), i + 3, body.join("\n")));
    }
    out
}

#[test]
fn the_runnable_blocks_of_the_docs_run() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let blocks: Vec<_> = files.iter().flat_map(|f| runnable(f)).collect();
    assert!(!blocks.is_empty(), "no block is marked runnable");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_botify")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (file, line, script) in blocks {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(root.join("examples"), dir.path().join("examples")).unwrap();
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(dir.path())
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}:{line}: the block failed ({}):\n{script}\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
