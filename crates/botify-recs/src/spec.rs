//! Recommenders described as data: a serde enum that experiment files (TOML) and the simulator
//! use, and the builder that turns it into a running recommender, loading each data file once.

use crate::baseline::{
    Chain, Contextual, Epsilon, HistoryI2I, Indexed, Random, Sequential, StickyArtist, TopPop, Walk,
};
use crate::data::{TrackLists, UserLists, parse_top_tracks};
use crate::homework::{BetterSticky, HistoryList, WeightedI2i, artist_popular};
use crate::memory::Memory;
use crate::taste::Tastes;
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
    Random {},
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
        /// `course` (the default: the course's Sequential, wrapping) or `once` (best first, then
        /// the fallback past the end).
        #[serde(default, skip_serializing_if = "is_course_walk")]
        walk: Walk,
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
        /// Listens (most recent) whose tracks are never recommended again.
        #[serde(default = "default_heard")]
        heard: usize,
        fallback: Option<Box<RecommenderSpec>>,
    },
    /// Session-anchored item-to-item: the session's first track's neighbours, never a replay,
    /// fresh artists first, then the neighbours of the session's liked tracks.
    SessionAnchor {
        /// Per-track neighbour lists, most similar first.
        file: PathBuf,
        #[serde(default = "default_liked")]
        liked: f32,
        #[serde(default = "default_artist_plays")]
        artist_plays: u32,
        /// A listen shorter than this is a skip.
        #[serde(default = "default_skipped")]
        skipped: f32,
        /// A skipped track's nearest this-many neighbours are passed over while others remain.
        #[serde(default)]
        skip_depth: usize,
        /// Above 0: candidates ranked by reciprocal-rank fusion of all anchors' lists, with
        /// this constant (0: anchor order).
        #[serde(default)]
        fusion: f32,
        fallback: Option<Box<RecommenderSpec>>,
    },
    /// Artists ranked against the session's taste (its first track's artist, moved by each later
    /// listen), never a replay, fresh artists first.
    SessionTaste {
        /// Artist taste vectors (`botify train taste`).
        file: PathBuf,
        /// How far one listen moves the session's taste.
        #[serde(default = "default_feedback")]
        feedback: f32,
        /// A listen longer than this pulls the taste towards its artist, a shorter one pushes.
        #[serde(default = "default_like")]
        like: f32,
        /// Above 0, the bar a listen must beat is the session's mean listen time so far, with
        /// `like` counted as this many listens (0: `like` alone).
        #[serde(default, skip_serializing_if = "is_zero")]
        like_weight: f32,
        #[serde(default = "default_artist_plays")]
        artist_plays: u32,
        /// A track listened to for at least this long in the user's earlier session that opened
        /// on the same artist is served again first; above 1, never.
        #[serde(default = "default_recall")]
        recall: f32,
        /// After this many skips in a row the fallback answers until a listen is liked; 0, never.
        #[serde(default)]
        switch: u32,
        /// Every logged session of each user (`botify train memory`), recalled where the
        /// service's recent history does not reach.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        memory: Option<PathBuf>,
        /// Per-track lists of the tracks that opened the same listeners' sessions (`botify
        /// train i2i --mode openers`): the first track's are served after staying, before the
        /// taste's artists.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        openers: Option<PathBuf>,
        /// Serve the session's own artist again while its next play (its last time in the
        /// session times the taste file's `repeat` of the artist) is expected to beat the bar.
        #[serde(default, skip_serializing_if = "is_false")]
        stay: bool,
        /// `like` is the session's first artist's `typical` listen time from the taste file
        /// (what listeners of sessions opened on it gave), where the file has one.
        #[serde(default, skip_serializing_if = "is_false")]
        auto_like: bool,
        fallback: Option<Box<RecommenderSpec>>,
    },
    /// Homework design 1: a per-user ranked list with a replay of liked history after a skip.
    HistoryList {
        /// Per-user lists, best first.
        file: PathBuf,
        #[serde(default = "default_recent")]
        recent: usize,
        #[serde(default = "default_liked")]
        skip_below: f32,
        #[serde(default = "default_liked")]
        liked: f32,
        fallback: Option<Box<RecommenderSpec>>,
    },
    /// Homework design 2: StickyArtist without disliked tracks, with liked-neighbour exploration
    /// and a switch to item-to-item after a run of failures.
    BetterSticky {
        /// Per-track neighbour lists.
        file: PathBuf,
        #[serde(default = "default_point_8")]
        liked: f32,
        #[serde(default = "default_point_2")]
        disliked: f32,
        #[serde(default = "default_failures")]
        failures: usize,
        #[serde(default = "default_point_2")]
        mix: f32,
        #[serde(default = "default_recent")]
        neighbours: usize,
        fallback: Option<Box<RecommenderSpec>>,
    },
    /// Homework design 5: softmax-weighted item-to-item with refills, switching to a personal list
    /// after failures.
    WeightedI2i {
        /// Per-track neighbour lists; weights are predicted listen times (1 when absent).
        file: PathBuf,
        /// Per-user lists for the personal mode.
        personal: PathBuf,
        /// Global top tracks for refills.
        top: PathBuf,
        #[serde(default = "default_point_5")]
        min_weight: f32,
        #[serde(default = "default_min_candidates")]
        min_candidates: usize,
        #[serde(default = "default_max_candidates")]
        max_candidates: usize,
        #[serde(default = "default_liked")]
        switch_below: f32,
        #[serde(default = "default_temperature")]
        temperature: f32,
        fallback: Option<Box<RecommenderSpec>>,
    },
    /// A recommender the host process registered under `name` ([`Hosted`]): the Python
    /// package's objects, served by `botify.serve` and run by `botify.simulate`.
    Python {
        name: String,
        fallback: Option<Box<RecommenderSpec>>,
    },
    /// Exploration for off-policy evaluation: with probability `epsilon` a uniformly random
    /// catalogue track, else `inner`'s pick; the log's propensity is the exact mixture.
    Epsilon {
        epsilon: f64,
        inner: Box<RecommenderSpec>,
    },
}

/// Recommenders registered by the process that embeds Botify (the Python package), reached from
/// specs by name with `{ type = "python", name = "..." }`. The CLI registers none.
#[derive(Clone, Default)]
pub struct Hosted(Arc<HashMap<String, Arc<dyn Recommender>>>);

impl Hosted {
    pub fn new(recommenders: HashMap<String, Arc<dyn Recommender>>) -> Self {
        Hosted(Arc::new(recommenders))
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Recommender>> {
        self.0.get(name)
    }

    /// Registered names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.0.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

impl std::fmt::Debug for Hosted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Hosted").field(&self.names()).finish()
    }
}

impl Recommender for Arc<dyn Recommender> {
    fn recommend(
        &self,
        req: &crate::Request,
        history: &[crate::Listen],
        rng: &mut crate::Rng,
    ) -> Option<TrackId> {
        (**self).recommend(req, history, rng)
    }
    fn uses_history(&self) -> bool {
        (**self).uses_history()
    }
    fn may_block(&self) -> bool {
        (**self).may_block()
    }
    fn track_list(&self, track: TrackId) -> Option<&[TrackId]> {
        (**self).track_list(track)
    }
    fn probability(
        &self,
        req: &crate::Request,
        history: &[crate::Listen],
        track: TrackId,
    ) -> Option<crate::Choice> {
        (**self).probability(req, history, track)
    }
}

fn default_recent() -> usize {
    10
}
fn default_failures() -> usize {
    5
}
fn default_point_2() -> f32 {
    0.2
}
fn default_point_5() -> f32 {
    0.5
}
fn default_liked() -> f32 {
    botify_core::defaults::LIKED
}
fn default_point_8() -> f32 {
    0.8
}
fn default_min_candidates() -> usize {
    30
}
fn default_max_candidates() -> usize {
    70
}
fn default_temperature() -> f32 {
    1.0
}

fn default_top_k() -> usize {
    100
}
fn default_anchors() -> usize {
    10
}

fn default_artist_plays() -> u32 {
    1
}
fn default_heard() -> usize {
    50
}
fn default_feedback() -> f32 {
    1.0
}
fn default_like() -> f32 {
    0.5
}
fn default_recall() -> f32 {
    0.5
}

fn default_skipped() -> f32 {
    0.3
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

    /// The data files of this spec (not its fallback) and its fallback.
    fn parts_mut(&mut self) -> (Vec<&mut PathBuf>, Option<&mut RecommenderSpec>) {
        use RecommenderSpec::*;
        let (files, fallback) = match self {
            Random {} => return (Vec::new(), None),
            // Its inner spec stands where a fallback would: its files are read, its paths resolved.
            Epsilon { inner, .. } => return (Vec::new(), Some(&mut **inner)),
            StickyArtist { fallback } | Python { fallback, .. } => (Vec::new(), fallback),
            TopPop { file, fallback, .. }
            | Indexed { file, fallback }
            | Sequential { file, fallback, .. }
            | Contextual { file, fallback }
            | HistoryI2i { file, fallback, .. }
            | SessionAnchor { file, fallback, .. }
            | HistoryList { file, fallback, .. }
            | BetterSticky { file, fallback, .. } => (vec![file], fallback),
            SessionTaste {
                file,
                memory,
                openers,
                fallback,
                ..
            } => (
                std::iter::once(file)
                    .chain(memory.as_mut())
                    .chain(openers.as_mut())
                    .collect(),
                fallback,
            ),
            WeightedI2i {
                file,
                personal,
                top,
                fallback,
                ..
            } => (vec![file, personal, top], fallback),
        };
        (files, fallback.as_deref_mut())
    }

    /// The data files this spec and its fallbacks read.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut spec = self.clone();
        let (files, fallback) = spec.parts_mut();
        let mut out: Vec<PathBuf> = files.into_iter().map(|f| f.clone()).collect();
        if let Some(fb) = fallback {
            out.extend(fb.files());
        }
        out
    }

    /// A line for people: the kind and its first data file, then what answers where it has
    /// nothing — `session_taste(models/taste.jsonl), then session_anchor(models/i2i_anchor.jsonl),
    /// then sticky_artist`.
    pub fn label(&self) -> String {
        if let RecommenderSpec::Epsilon { epsilon, inner } = self {
            return format!("epsilon({epsilon}, {})", inner.label());
        }
        let mut spec = self.clone();
        let kind = serde_json::to_value(&spec)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(String::from))
            .unwrap_or_default();
        let (files, fallback) = spec.parts_mut();
        let mut out = match files.first() {
            Some(f) => format!("{kind}({})", f.display()),
            None => kind,
        };
        if let RecommenderSpec::Sequential {
            walk: Walk::Once, ..
        } = self
        {
            out.insert_str(out.len() - 1, ", once");
        }
        if let Some(fb) = fallback {
            out.push_str(", then ");
            out.push_str(&fb.label());
        }
        out
    }

    /// Rewrites relative data paths as relative to `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        let (files, fallback) = self.parts_mut();
        for f in files {
            if f.is_relative() {
                *f = base.join(&*f);
            }
        }
        if let Some(fb) = fallback {
            fb.resolve_paths(base);
        }
    }
}

fn is_course_walk(walk: &Walk) -> bool {
    *walk == Walk::Course
}

fn is_zero(x: &f32) -> bool {
    *x == 0.0
}

fn is_false(x: &bool) -> bool {
    !*x
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
    tastes: HashMap<PathBuf, Arc<Tastes>>,
    memories: HashMap<PathBuf, Arc<Memory>>,
    artist_popular: Option<Arc<Vec<Vec<TrackId>>>>,
    hosted: Hosted,
}

/// The data file `f`, parsed once per builder: each later spec reading it shares the same copy.
fn load<T>(
    cache: &mut HashMap<PathBuf, Arc<T>>,
    source: &DataSource,
    f: &Path,
    parse: impl FnOnce(&str) -> Result<T>,
) -> Result<Arc<T>> {
    if let Some(v) = cache.get(f) {
        return Ok(v.clone());
    }
    let v = Arc::new(parse(&source(f)?)?);
    cache.insert(f.to_path_buf(), v.clone());
    Ok(v)
}

/// Thresholds and probabilities must lie in [0, 1].
fn check_unit(kind: &str, values: &[(&str, f32)]) -> Result<()> {
    match values.iter().find(|(_, v)| !(0.0..=1.0).contains(v)) {
        Some((name, v)) => Err(Error::Config(format!(
            "{kind}: `{name}` {v} is not in [0, 1]"
        ))),
        None => Ok(()),
    }
}

fn check_non_negative(kind: &str, values: &[(&str, f32)]) -> Result<()> {
    match values.iter().find(|(_, v)| !(v.is_finite() && *v >= 0.0)) {
        Some((name, v)) => Err(Error::Config(format!(
            "{kind}: `{name}` {v} must be a finite number ≥ 0"
        ))),
        None => Ok(()),
    }
}

/// A primary recommender and the spec of what answers where it has nothing.
type Built<'s> = Option<(Box<dyn Recommender>, &'s Option<Box<RecommenderSpec>>)>;

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
            tastes: HashMap::new(),
            memories: HashMap::new(),
            artist_popular: None,
            hosted: Hosted::default(),
        }
    }

    /// Resolves `{ type = "python", name }` specs among `hosted`.
    pub fn with_hosted(mut self, hosted: Hosted) -> Self {
        self.hosted = hosted;
        self
    }

    fn user_lists(&mut self, f: &Path) -> Result<Arc<UserLists>> {
        let tracks = self.catalog.len();
        load(&mut self.user_lists, &self.source, f, |text| {
            UserLists::parse(f, text, tracks)
        })
    }

    fn track_lists(&mut self, f: &Path) -> Result<Arc<TrackLists>> {
        let tracks = self.catalog.len();
        load(&mut self.track_lists, &self.source, f, |text| {
            TrackLists::parse(f, text, tracks)
        })
    }

    fn tastes(&mut self, f: &Path) -> Result<Arc<Tastes>> {
        let catalog = self.catalog.clone();
        load(&mut self.tastes, &self.source, f, |text| {
            Tastes::parse(f, text, &catalog)
        })
    }

    fn memory(&mut self, f: &Path) -> Result<Arc<Memory>> {
        let catalog = self.catalog.clone();
        load(&mut self.memories, &self.source, f, |text| {
            Memory::parse(f, text, &catalog)
        })
    }

    fn top(&mut self, f: &Path) -> Result<Arc<Vec<TrackId>>> {
        let tracks = self.catalog.len();
        load(&mut self.tops, &self.source, f, |text| {
            parse_top_tracks(f, text, tracks)
        })
    }

    /// Builds `spec`; whatever the spec says, Random is the last resort so an answer always
    /// exists. Every fallback taken inside this tree increments `fallbacks`.
    pub fn build(
        &mut self,
        spec: &RecommenderSpec,
        fallbacks: &Arc<AtomicU64>,
    ) -> Result<Box<dyn Recommender>> {
        let tracks = self.catalog.len() as u32;
        if let RecommenderSpec::Random {} = spec {
            return Ok(Box::new(Random { tracks }));
        }
        if let RecommenderSpec::Epsilon { epsilon, inner } = spec {
            if !(0.0..=1.0).contains(epsilon) {
                return Err(Error::Config(format!(
                    "epsilon: `epsilon` {epsilon} is not a probability in [0, 1]"
                )));
            }
            return Ok(Box::new(Epsilon {
                epsilon: *epsilon,
                tracks,
                inner: self.build(inner, fallbacks)?,
            }));
        }
        // Built by the family that knows the kind.
        let built = match self.list_policy(spec)? {
            Some(b) => Some(b),
            None => match self.session_policy(spec)? {
                Some(b) => Some(b),
                None => self.homework_design(spec)?,
            },
        };
        let Some((primary, fallback)) = built else {
            return Err(Error::Config(format!(
                "no recommender is built from {spec:?}"
            )));
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

    /// The course's policies and those that serve a list file as it is.
    fn list_policy<'s>(&mut self, spec: &'s RecommenderSpec) -> Result<Built<'s>> {
        use RecommenderSpec as S;
        Ok(Some(match spec {
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
            S::Python { name, fallback } => {
                let found = self.hosted.get(name).ok_or_else(|| {
                    let names = self.hosted.names();
                    Error::Config(if names.is_empty() {
                        format!("python recommender {name:?}: Python recommenders run only inside the Python package (botify.serve, botify.simulate)")
                    } else {
                        format!("python recommender {name:?} is not registered (registered: {})", names.join(", "))
                    })
                })?;
                (Box::new(found.clone()), fallback)
            }
            S::Indexed { file, fallback } => (
                Box::new(Indexed {
                    lists: self.user_lists(file)?,
                }),
                fallback,
            ),
            S::Sequential {
                file,
                walk,
                fallback,
            } => (
                Box::new(Sequential {
                    lists: self.user_lists(file)?,
                    walk: *walk,
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
                heard,
                fallback,
            } => (
                Box::new(HistoryI2I {
                    lists: self.track_lists(file)?,
                    anchors: (*anchors).max(1),
                    heard: *heard,
                }),
                fallback,
            ),
            _ => return Ok(None),
        }))
    }

    /// The policies that follow a session: its first track, its taste.
    fn session_policy<'s>(&mut self, spec: &'s RecommenderSpec) -> Result<Built<'s>> {
        use RecommenderSpec as S;
        Ok(Some(match spec {
            S::SessionAnchor {
                file,
                liked,
                artist_plays,
                skipped,
                skip_depth,
                fusion,
                fallback,
            } => {
                check_non_negative("session_anchor", &[("fusion", *fusion)])?;
                check_unit(
                    "session_anchor",
                    &[("liked", *liked), ("skipped", *skipped)],
                )?;
                (
                    Box::new(crate::session::SessionAnchor {
                        lists: self.track_lists(file)?,
                        catalog: self.catalog.clone(),
                        liked: *liked,
                        artist_plays: (*artist_plays).max(1),
                        skipped: *skipped,
                        skip_depth: *skip_depth,
                        fusion: *fusion,
                    }),
                    fallback,
                )
            }
            S::SessionTaste {
                file,
                feedback,
                like,
                like_weight,
                artist_plays,
                recall,
                switch,
                memory,
                openers,
                stay,
                auto_like,
                fallback,
            } => {
                check_non_negative("session_taste", &[("feedback", *feedback)])?;
                check_unit("session_taste", &[("like", *like)])?;
                check_non_negative("session_taste", &[("like_weight", *like_weight)])?;
                if !(recall.is_finite() && *recall >= 0.0) {
                    return Err(Error::Config(format!(
                        "session_taste: `recall` {recall} must be a finite number ≥ 0 (above 1: off)"
                    )));
                }
                (
                    Box::new(crate::taste::SessionTaste {
                        tastes: self.tastes(file)?,
                        catalog: self.catalog.clone(),
                        feedback: *feedback,
                        like: *like,
                        like_weight: *like_weight,
                        artist_plays: (*artist_plays).max(1),
                        recall: *recall,
                        switch: *switch,
                        memory: memory.as_deref().map(|f| self.memory(f)).transpose()?,
                        openers: openers
                            .as_deref()
                            .map(|f| self.track_lists(f))
                            .transpose()?,
                        stay: *stay,
                        auto_like: *auto_like,
                    }),
                    fallback,
                )
            }
            _ => return Ok(None),
        }))
    }

    /// The homework's designs (docs/homework.md).
    fn homework_design<'s>(&mut self, spec: &'s RecommenderSpec) -> Result<Built<'s>> {
        use RecommenderSpec as S;
        Ok(Some(match spec {
            S::HistoryList {
                file,
                recent,
                skip_below,
                liked,
                fallback,
            } => {
                check_unit(
                    "history_list",
                    &[("skip_below", *skip_below), ("liked", *liked)],
                )?;
                (
                    Box::new(HistoryList {
                        lists: self.user_lists(file)?,
                        recent: *recent,
                        skip_below: *skip_below,
                        liked: *liked,
                    }),
                    fallback,
                )
            }
            S::BetterSticky {
                file,
                liked,
                disliked,
                failures,
                mix,
                neighbours,
                fallback,
            } => {
                check_unit(
                    "better_sticky",
                    &[("liked", *liked), ("disliked", *disliked), ("mix", *mix)],
                )?;
                if *failures == 0 || *neighbours == 0 {
                    return Err(Error::Config(
                        "better_sticky: `failures` and `neighbours` must be at least 1".into(),
                    ));
                }
                (
                    Box::new(BetterSticky {
                        catalog: self.catalog.clone(),
                        lists: self.track_lists(file)?,
                        liked: *liked,
                        disliked: *disliked,
                        failures: *failures,
                        mix: *mix,
                        neighbours: *neighbours,
                    }),
                    fallback,
                )
            }
            S::WeightedI2i {
                file,
                personal,
                top,
                min_weight,
                min_candidates,
                max_candidates,
                switch_below,
                temperature,
                fallback,
            } => {
                check_unit("weighted_i2i", &[("switch_below", *switch_below)])?;
                if !min_weight.is_finite() {
                    return Err(Error::Config(format!(
                        "weighted_i2i: `min_weight` {min_weight} is not a number"
                    )));
                }
                if !(*temperature > 0.0 && temperature.is_finite()) {
                    return Err(Error::Config(format!(
                        "weighted_i2i: `temperature` {temperature} must be positive"
                    )));
                }
                if *max_candidates == 0 || min_candidates > max_candidates {
                    return Err(Error::Config(format!(
                        "weighted_i2i: need 1 <= `max_candidates` and `min_candidates` <= `max_candidates` (got {min_candidates} and {max_candidates})"
                    )));
                }
                let artist_popular = self
                    .artist_popular
                    .get_or_insert_with(|| Arc::new(artist_popular(&self.catalog)))
                    .clone();
                (
                    Box::new(WeightedI2i {
                        catalog: self.catalog.clone(),
                        lists: self.track_lists(file)?,
                        personal: self.user_lists(personal)?,
                        artist_popular,
                        top: self.top(top)?,
                        min_weight: *min_weight,
                        min_candidates: *min_candidates,
                        max_candidates: *max_candidates,
                        switch_below: *switch_below,
                        temperature: *temperature,
                    }),
                    fallback,
                )
            }
            _ => return Ok(None),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` tracks by one artist.
    fn one_artist(n: u32) -> Arc<Catalog> {
        let tracks = (0..n)
            .map(|i| botify_core::Track::new(i, "a", "t"))
            .collect();
        Arc::new(Catalog::from_tracks(tracks).unwrap())
    }

    #[test]
    fn parses_cli_names_and_inline_specs() {
        assert_eq!(
            RecommenderSpec::parse_cli("random").unwrap(),
            RecommenderSpec::Random {}
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
                fallback: Some(Box::new(RecommenderSpec::Random {}))
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
    fn homework_designs_parse_with_the_reported_defaults_and_reject_bad_parameters() {
        let s = RecommenderSpec::parse_cli(
            "{ type = \"weighted_i2i\", file = \"i2i.jsonl\", personal = \"u.jsonl\", top = \"top.json\", fallback = { type = \"better_sticky\", file = \"i2i.jsonl\" } }",
        )
        .unwrap();
        let RecommenderSpec::WeightedI2i {
            min_weight,
            min_candidates,
            max_candidates,
            switch_below,
            fallback: Some(fallback),
            ..
        } = &s
        else {
            panic!("{s:?}")
        };
        assert_eq!(
            (*min_weight, *min_candidates, *max_candidates, *switch_below),
            (0.5, 30, 70, 0.7)
        );
        assert!(matches!(
            **fallback,
            RecommenderSpec::BetterSticky {
                liked: 0.8,
                disliked: 0.2,
                failures: 5,
                ..
            }
        ));
        let files: Vec<String> = s.files().iter().map(|f| f.display().to_string()).collect();
        assert_eq!(files, ["i2i.jsonl", "u.jsonl", "top.json", "i2i.jsonl"]);
        let h =
            RecommenderSpec::parse_cli("{ type = \"history_list\", file = \"u.jsonl\" }").unwrap();
        assert!(matches!(
            h,
            RecommenderSpec::HistoryList {
                recent: 10,
                skip_below: 0.7,
                liked: 0.7,
                ..
            }
        ));

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("i2i.jsonl"),
            "{\"track\": 0, \"recommendations\": [1]}\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("u.jsonl"),
            "{\"user\": 0, \"tracks\": [1]}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("top.json"), "[1, 0]").unwrap();
        let catalog = one_artist(2);
        let build = |spec: &str| {
            let mut s = RecommenderSpec::parse_cli(spec).unwrap();
            s.resolve_paths(dir.path());
            Builder::new(catalog.clone())
                .build(&s, &Default::default())
                .map(|r| r.uses_history())
        };
        let weighted = |extra: &str| {
            format!(
                "{{ type = \"weighted_i2i\", file = \"i2i.jsonl\", personal = \"u.jsonl\", top = \"top.json\"{extra} }}"
            )
        };
        assert!(build(&weighted("")).unwrap());
        for (extra, says) in [
            (", temperature = 0.0", "`temperature` 0 must be positive"),
            (
                ", min_candidates = 80",
                "`min_candidates` <= `max_candidates`",
            ),
            (
                ", switch_below = 1.5",
                "`switch_below` 1.5 is not in [0, 1]",
            ),
        ] {
            let e = build(&weighted(extra)).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
        let e = build("{ type = \"better_sticky\", file = \"i2i.jsonl\", failures = 0 }")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`failures`"), "{e}");
        let e = build("{ type = \"better_sticky\", file = \"i2i.jsonl\", mix = -0.1 }")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`mix` -0.1"), "{e}");
        let e = build("{ type = \"history_list\", file = \"missing.jsonl\" }")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.jsonl"), "{e}");

        // session_taste: its memory is a data file of the spec, resolved and read with it.
        std::fs::write(
            dir.path().join("taste.jsonl"),
            "{\"artist\": \"a\", \"vector\": [1.0], \"tracks\": [0, 1], \"repeat\": 0.5}\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("memory.jsonl"),
            "{\"user\": 3, \"artist\": \"a\", \"tracks\": [1], \"times\": [0.9]}\n",
        )
        .unwrap();
        let taste =
            |extra: &str| format!("{{ type = \"session_taste\", file = \"taste.jsonl\"{extra} }}");
        assert!(
            build(&taste(
                ", memory = \"memory.jsonl\", stay = true, like_weight = 3.0"
            ))
            .unwrap()
        );
        std::fs::write(
            dir.path().join("openers.jsonl"),
            "{\"track\": 0, \"recommendations\": [1]}\n",
        )
        .unwrap();
        let both = ", memory = \"memory.jsonl\", openers = \"openers.jsonl\"";
        assert!(build(&taste(both)).unwrap());
        let mut spec = RecommenderSpec::parse_cli(&taste(both)).unwrap();
        spec.resolve_paths(dir.path());
        assert_eq!(
            spec.files(),
            vec![
                dir.path().join("taste.jsonl"),
                dir.path().join("memory.jsonl"),
                dir.path().join("openers.jsonl")
            ]
        );
        for (extra, says) in [
            (
                ", like_weight = -1.0",
                "`like_weight` -1 must be a finite number",
            ),
            (", memory = \"gone.jsonl\"", "gone.jsonl"),
            (", openers = \"none.jsonl\"", "none.jsonl"),
        ] {
            let e = build(&taste(extra)).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn python_specs_resolve_among_the_hosted_recommenders_only() {
        struct Fixed(TrackId);
        impl Recommender for Fixed {
            fn recommend(
                &self,
                _: &crate::Request,
                _: &[crate::Listen],
                _: &mut crate::Rng,
            ) -> Option<TrackId> {
                Some(self.0)
            }
        }
        let catalog = one_artist(3);
        let spec = RecommenderSpec::parse_cli("{ type = \"python\", name = \"mine\" }").unwrap();
        let fallbacks = Arc::new(AtomicU64::new(0));
        // The CLI registers none: the error says where Python recommenders run.
        let e = Builder::new(catalog.clone())
            .build(&spec, &fallbacks)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("\"mine\"") && e.contains("Python package"),
            "{e}"
        );
        let other = Hosted::new(HashMap::from([(
            "other".to_string(),
            Arc::new(Fixed(1)) as Arc<dyn Recommender>,
        )]));
        let e = Builder::new(catalog.clone())
            .with_hosted(other)
            .build(&spec, &fallbacks)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("registered: other"), "{e}");
        let hosted = Hosted::new(HashMap::from([(
            "mine".to_string(),
            Arc::new(Fixed(2)) as Arc<dyn Recommender>,
        )]));
        let r = Builder::new(catalog)
            .with_hosted(hosted)
            .build(&spec, &fallbacks)
            .unwrap();
        let req = crate::Request {
            user: 0,
            track: 0,
            time: 1.0,
        };
        let mut rng = botify_core::rng::stream(1, b"t", 0);
        assert_eq!(r.recommend(&req, &[], &mut rng), Some(2));
        assert_eq!(fallbacks.load(std::sync::atomic::Ordering::Relaxed), 0);
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

    #[test]
    fn a_spec_reads_as_its_chain() {
        let spec: RecommenderSpec = toml::from_str(
            "type = \"sequential\"\nfile = \"models/als.jsonl\"\nfallback = { type = \"sticky_artist\" }",
        )
        .unwrap();
        assert_eq!(
            spec.label(),
            "sequential(models/als.jsonl), then sticky_artist"
        );
        assert_eq!(RecommenderSpec::Random {}.label(), "random");
    }
}
