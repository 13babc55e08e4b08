use anyhow::{Context, Result};
use botify_core::generate::{WorldParams, generate};
use botify_core::world::{self, Stats};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Subcommand)]
pub enum WorldCommand {
    /// Generate a world deterministically from a seed.
    Generate(GenerateArgs),
    /// Validate a world directory (ours or the course's original files).
    Check {
        /// The world directory (tracks.json, users.json, tracks.npy, dynamics.json).
        dir: PathBuf,
    },
    /// Counts, popularity curve, artist sizes, embedding norms.
    Stats {
        /// The world directory.
        dir: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct GenerateArgs {
    /// Directory to write the world into (created; an existing world there needs --force).
    #[arg(long)]
    out: PathBuf,
    /// Replace a world already in --out.
    #[arg(long)]
    force: bool,
    /// Tracks in the catalogue.
    #[arg(long, default_value_t = WorldParams::default().tracks)]
    tracks: usize,
    /// Listeners.
    #[arg(long, default_value_t = WorldParams::default().users)]
    users: usize,
    /// Dimension of the hidden taste embeddings.
    #[arg(long, default_value_t = WorldParams::default().dim)]
    dim: usize,
    /// Seed: the same seed and parameters give the same files, byte for byte.
    #[arg(long, default_value_t = WorldParams::default().seed)]
    seed: u64,
    /// Genres tracks are tagged with.
    #[arg(long, default_value_t = WorldParams::default().genres)]
    genres: usize,
    /// TOML file with any generator parameter (see `WorldParams`; its `[dynamics]` table: the
    /// listener dynamics of docs/dynamics.md); flags given explicitly win.
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(cmd: WorldCommand) -> Result<()> {
    match cmd {
        WorldCommand::Generate(a) => {
            let base = match &a.config {
                Some(f) => {
                    let text = std::fs::read_to_string(f)
                        .with_context(|| format!("reading {}", f.display()))?;
                    toml::from_str::<WorldParams>(&text)
                        .with_context(|| format!("{}: bad world parameters", f.display()))?
                }
                None => WorldParams::default(),
            };
            let d = WorldParams::default();
            let pick = |flag: usize, default: usize, from_file: usize| {
                if flag != default { flag } else { from_file }
            };
            let params = WorldParams {
                tracks: pick(a.tracks, d.tracks, base.tracks),
                users: pick(a.users, d.users, base.users),
                dim: pick(a.dim, d.dim, base.dim),
                seed: if a.seed != d.seed { a.seed } else { base.seed },
                genres: pick(a.genres, d.genres, base.genres),
                ..base
            };
            if !a.force
                && let Some(f) = world::existing_files(&a.out).first()
            {
                return Err(botify_lab::Error::Invalid(format!(
                    "{} already holds a world ({}): add --force to replace it (nothing was written)",
                    a.out.display(),
                    f
                ))
                .into());
            }
            let t = Instant::now();
            let w = generate(&params)?;
            let gen_s = t.elapsed().as_secs_f64();
            w.write(&a.out)
                .with_context(|| format!("writing the world to {}", a.out.display()))?;
            println!(
                "generated {} tracks by {} artists, {} users, dim {} (seed {}) in {:.2}s, written to {} in {:.2}s",
                w.catalog.len(),
                w.catalog.artists.len(),
                w.users.len(),
                w.embeddings.dim,
                params.seed,
                gen_s,
                a.out.display(),
                t.elapsed().as_secs_f64() - gen_s
            );
            if !w.dynamics.is_off() {
                println!(
                    "listener dynamics on (dynamics.json): {}",
                    serde_json::to_string(&w.dynamics)?
                );
            }
            Ok(())
        }
        WorldCommand::Check { dir } => {
            let r = world::check(&dir).map_err(|e| {
                anyhow::Error::new(crate::Failure::CheckFailed(format!(
                    "{}: not a valid world",
                    dir.display()
                )))
                .context(e.to_string())
            })?;
            println!("{}: valid", dir.display());
            println!("  tracks      {} ({} artists)", r.tracks, r.artists);
            match r.embeddings {
                Some((rows, dim)) => println!("  embeddings  {rows} x {dim}"),
                None => println!("  embeddings  -"),
            }
            match r.users {
                Some(n) => println!("  users       {n}"),
                None => println!("  users       -"),
            }
            for n in r.notes {
                println!("  note: {n}");
            }
            Ok(())
        }
        WorldCommand::Stats { dir, json } => {
            // What needs no embeddings works without them (the course's files have none).
            let catalog = botify_core::Catalog::load(&dir.join(world::TRACKS_FILE))?;
            let users = botify_core::users::load(&dir.join(world::USERS_FILE), catalog.len())?;
            let npy = dir.join(world::EMBEDDINGS_FILE);
            let embeddings = npy
                .exists()
                .then(|| world::load_embeddings(&npy, catalog.len()))
                .transpose()?;
            let s = Stats::of_parts(&catalog, &users, embeddings.as_ref());
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
                return Ok(());
            }
            print!("{}", s.to_text(&dir));
            Ok(())
        }
    }
}
