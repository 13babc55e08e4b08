//! Recommenders described as data: a serde enum that experiment files (TOML) and the simulator
//! use, and the builder that turns it into a running recommender, loading each data file once.

use crate::baseline::{
    Chain, Contextual, HistoryI2I, Indexed, Random, Sequential, StickyArtist, TopPop,
};
use crate::data::{TrackLists, UserLists, parse_top_tracks};
use crate::{Error, Recommender, Result};
use botify_core::{Catalog, TrackId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// A recommender and its data, e.g. `{ type = "indexed", file = "recs.jsonl", fallback = { type = "random" } }`.
/// Relative file paths are resolved against the directory of the file that holds the spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RecommenderSpec {
    Random,
    TopPop {
        file: PathBuf,
        #[serde(default = "default_top_k")]
        k: usize,
        fallback: Option<Box<RecommenderSpec>>,
    },
    StickyArtist {
        fallback: Option<Box<RecommenderSpec>>,
    },
    Indexed {
        file: PathBuf,
        fallback: Option<Box<RecommenderSpec>>,
    },
    Sequential {
        file: PathBuf,
        fallback: Option<Box<RecommenderSpec>>,
    },
    Contextual {
        file: PathBuf,
        fallback: Option<Box<RecommenderSpec>>,
    },
    HistoryI2i {
        file: PathBuf,
        #[serde(default = "default_anchors")]
        anchors: usize,
        fallback: Option<Box<RecommenderSpec>>,
    },
}

fn default_top_k() -> usize {
    100
}
fn default_anchors() -> usize {
    10
}

impl RecommenderSpec {
    /// Parses a spec from the command line: a bare name (`random`, `sticky-artist`) or inline
    /// JSON/TOML (`{ type = "indexed", file = "recs.jsonl" }`).
    pub fn parse_cli(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.starts_with('{') {
            if let Ok(spec) = serde_json::from_str(s) {
                return Ok(spec);
            }
            #[derive(Deserialize)]
            struct Wrap {
                r: RecommenderSpec,
            }
            return toml::from_str::<Wrap>(&format!("r = {s}"))
                .map(|w| w.r)
                .map_err(|e| Error::Config(format!("bad recommender spec {s:?}: {e}")));
        }
        let name = s.replace('-', "_");
        toml::from_str::<HashMap<String, RecommenderSpec>>(&format!("r = {{ type = \"{name}\" }}"))
            .ok()
            .and_then(|mut m| m.remove("r"))
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown recommender {s:?}: bare names are random and sticky-artist; others need data, e.g. '{{ type = \"indexed\", file = \"recs.jsonl\" }}'"
                ))
            })
    }

    /// The data files this spec and its fallbacks read.
    pub fn files(&self) -> Vec<PathBuf> {
        use RecommenderSpec::*;
        let (file, fallback) = match self {
            Random => (None, &None),
            StickyArtist { fallback } => (None, fallback),
            TopPop { file, fallback, .. }
            | Indexed { file, fallback }
            | Sequential { file, fallback }
            | Contextual { file, fallback }
            | HistoryI2i { file, fallback, .. } => (Some(file.clone()), fallback),
        };
        let mut out: Vec<PathBuf> = file.into_iter().collect();
        if let Some(fb) = fallback {
            out.extend(fb.files());
        }
        out
    }

    /// Rewrites relative data paths as relative to `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        use RecommenderSpec::*;
        let (file, fallback) = match self {
            Random => return,
            StickyArtist { fallback } => (None, fallback),
            TopPop { file, fallback, .. }
            | Indexed { file, fallback }
            | Sequential { file, fallback }
            | Contextual { file, fallback }
            | HistoryI2i { file, fallback, .. } => (Some(file), fallback),
        };
        if let Some(f) = file
            && f.is_relative()
        {
            *f = base.join(&*f);
        }
        if let Some(fb) = fallback {
            fb.resolve_paths(base);
        }
    }
}

/// Where data files come from: the file system by default, or a shared store (the service reads
/// them from Redis when several replicas share the data).
pub type DataSource = Arc<dyn Fn(&Path) -> Result<String> + Send + Sync>;

/// Reads data files from the file system.
pub fn files() -> DataSource {
    Arc::new(|p: &Path| std::fs::read_to_string(p).map_err(|e| botify_core::Error::io(p, e).into()))
}

/// Builds recommenders from specs, sharing loaded data files between them.
pub struct Builder {
    catalog: Arc<Catalog>,
    source: DataSource,
    user_lists: HashMap<PathBuf, Arc<UserLists>>,
    track_lists: HashMap<PathBuf, Arc<TrackLists>>,
    tops: HashMap<PathBuf, Arc<Vec<TrackId>>>,
}

impl Builder {
    pub fn new(catalog: Arc<Catalog>) -> Self {
        Self::with_source(catalog, files())
    }

    pub fn with_source(catalog: Arc<Catalog>, source: DataSource) -> Self {
        Builder {
            catalog,
            source,
            user_lists: HashMap::new(),
            track_lists: HashMap::new(),
            tops: HashMap::new(),
        }
    }

    fn user_lists(&mut self, f: &Path) -> Result<Arc<UserLists>> {
        if let Some(l) = self.user_lists.get(f) {
            return Ok(l.clone());
        }
        let l = Arc::new(UserLists::parse(f, &(self.source)(f)?, self.catalog.len())?);
        self.user_lists.insert(f.to_path_buf(), l.clone());
        Ok(l)
    }

    fn track_lists(&mut self, f: &Path) -> Result<Arc<TrackLists>> {
        if let Some(l) = self.track_lists.get(f) {
            return Ok(l.clone());
        }
        let l = Arc::new(TrackLists::parse(
            f,
            &(self.source)(f)?,
            self.catalog.len(),
        )?);
        self.track_lists.insert(f.to_path_buf(), l.clone());
        Ok(l)
    }

    fn top(&mut self, f: &Path) -> Result<Arc<Vec<TrackId>>> {
        if let Some(l) = self.tops.get(f) {
            return Ok(l.clone());
        }
        let l = Arc::new(parse_top_tracks(f, &(self.source)(f)?, self.catalog.len())?);
        self.tops.insert(f.to_path_buf(), l.clone());
        Ok(l)
    }

    /// Builds `spec`; whatever the spec says, Random is the last resort so an answer always
    /// exists. Every fallback taken inside this tree increments `fallbacks`.
    pub fn build(
        &mut self,
        spec: &RecommenderSpec,
        fallbacks: &Arc<AtomicU64>,
    ) -> Result<Box<dyn Recommender>> {
        use RecommenderSpec as S;
        let tracks = self.catalog.len() as u32;
        let (primary, fallback): (Box<dyn Recommender>, _) = match spec {
            S::Random => return Ok(Box::new(Random { tracks })),
            S::TopPop { file, k, fallback } => {
                if *k == 0 {
                    return Err(Error::Config("top_pop: `k` must be at least 1".into()));
                }
                (
                    Box::new(TopPop {
                        top: self.top(file)?,
                        k: *k,
                    }),
                    fallback,
                )
            }
            S::StickyArtist { fallback } => (
                Box::new(StickyArtist {
                    catalog: self.catalog.clone(),
                }),
                fallback,
            ),
            S::Indexed { file, fallback } => (
                Box::new(Indexed {
                    lists: self.user_lists(file)?,
                }),
                fallback,
            ),
            S::Sequential { file, fallback } => (
                Box::new(Sequential {
                    lists: self.user_lists(file)?,
                }),
                fallback,
            ),
            S::Contextual { file, fallback } => (
                Box::new(Contextual {
                    lists: self.track_lists(file)?,
                }),
                fallback,
            ),
            S::HistoryI2i {
                file,
                anchors,
                fallback,
            } => (
                Box::new(HistoryI2I {
                    lists: self.track_lists(file)?,
                    anchors: (*anchors).max(1),
                }),
                fallback,
            ),
        };
        let fallback = match fallback {
            Some(fb) => self.build(fb, fallbacks)?,
            None => Box::new(Random { tracks }),
        };
        Ok(Box::new(Chain {
            primary,
            fallback,
            fallbacks: fallbacks.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cli_names_and_inline_specs() {
        assert_eq!(
            RecommenderSpec::parse_cli("random").unwrap(),
            RecommenderSpec::Random
        );
        assert_eq!(
            RecommenderSpec::parse_cli("sticky-artist").unwrap(),
            RecommenderSpec::StickyArtist { fallback: None }
        );
        let s = RecommenderSpec::parse_cli(
            "{ type = \"indexed\", file = \"r.jsonl\", fallback = { type = \"random\" } }",
        )
        .unwrap();
        assert_eq!(
            s,
            RecommenderSpec::Indexed {
                file: "r.jsonl".into(),
                fallback: Some(Box::new(RecommenderSpec::Random))
            }
        );
        let s =
            RecommenderSpec::parse_cli("{\"type\": \"top_pop\", \"file\": \"t.json\"}").unwrap();
        assert!(matches!(s, RecommenderSpec::TopPop { k: 100, .. }));
        let e = RecommenderSpec::parse_cli("indexed")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown recommender"), "{e}");
        let e = RecommenderSpec::parse_cli("{ type = \"indexed\", file = \"r\", filee = 1 }")
            .unwrap_err()
            .to_string();
        assert!(e.contains("filee"), "{e}");
    }

    #[test]
    fn resolves_relative_paths_recursively() {
        let mut s = RecommenderSpec::Contextual {
            file: "a.jsonl".into(),
            fallback: Some(Box::new(RecommenderSpec::Indexed {
                file: "/abs/b.jsonl".into(),
                fallback: None,
            })),
        };
        s.resolve_paths(Path::new("/base"));
        let RecommenderSpec::Contextual { file, fallback } = s else {
            panic!()
        };
        assert_eq!(file, PathBuf::from("/base/a.jsonl"));
        assert!(
            matches!(*fallback.unwrap(), RecommenderSpec::Indexed { file, .. } if file == Path::new("/abs/b.jsonl"))
        );
    }
}
