//! A two-tower DSSM: a user tower (the user's embedding through a dense layer and tanh) and a
//! track tower (the track's row + its artist's + its genre's, through a dense layer and tanh),
//! scored by the cosine of the two towers' outputs over a temperature and trained on liked
//! (user, track) pairs with in-batch sampled softmax (every other track of the batch is a
//! negative). Per-user lists are the best tracks by score, heard tracks excluded.

use crate::adam::SparseAdam;
use crate::tables::{Groups, Tower};
use crate::{Error, Result};
use botify_core::rng::stream;
use botify_core::{TrackId, UserId};
use candle_core::{DType, Device, Tensor, Var};
use rand::Rng;
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

botify_core::params! {
    /// The two-tower DSSM's parameters.
    pub struct Params {
        /// Tower output size.
        dim: usize = 64 => range(1.0, 4_096.0);
        /// Passes over the pairs (fewer if validation stops it).
        epochs: usize = 10 => range(1.0, 100_000.0);
        /// Pairs per batch; the other tracks of a batch are each pair's negatives.
        batch: usize = 1024 => range(2.0, 1_000_000.0).why("in-batch negatives need two examples");
        /// Adam's step size.
        learning_rate: f32 = 0.01 => above(0.0).alias("lr");
        /// Softmax temperature over the towers' cosines.
        temperature: f32 = 0.1 => above(0.0);
        /// Share of pairs held out for the validation loss and early stopping.
        validation: f64 = 0.1 => share();
        /// Epochs without a better validation loss before stopping.
        patience: usize = 2 => range(1.0, 100_000.0);
        /// The seed of the towers, the split and the batches.
        seed: u64 = botify_core::defaults::SEED => shared(Setting::Seed);
    }
}

impl Params {
    /// The training loop's view of these parameters (in-batch negatives need two examples).
    pub fn schedule(&self) -> crate::training::Schedule {
        crate::training::Schedule {
            min_batch: 2,
            ..crate::training::Schedule::new(self.epochs, self.batch, self.patience)
        }
    }

    pub fn validate(&self) -> Result<()> {
        crate::check_params(self)
    }
}

/// One epoch of the learning curve: mean in-batch softmax loss on train and validation pairs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Epoch {
    pub epoch: usize,
    pub train_loss: f64,
    pub validation_loss: f64,
}

pub struct Model {
    pub params: Params,
    users: HashMap<UserId, usize>,
    user_rows: SparseAdam,
    tracks: Tower,
    /// Dense layers, row-major d × d, as one-row-per-output tables.
    w_user: SparseAdam,
    w_track: SparseAdam,
    groups: Groups,
}

fn tanh_layer(w: &SparseAdam, x: &[f32]) -> Vec<f32> {
    (0..w.dim)
        .map(|o| {
            x.iter()
                .zip(w.row(o))
                .map(|(a, b)| a * b)
                .sum::<f32>()
                .tanh()
        })
        .collect()
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

impl Model {
    /// The user tower's unit output, or `None` for a user the model never saw.
    pub fn user_vector(&self, user: UserId) -> Option<Vec<f32>> {
        let r = *self.users.get(&user)?;
        Some(unit(tanh_layer(&self.w_user, self.user_rows.row(r))))
    }

    /// The track tower's unit output.
    pub fn track_vector(&self, track: TrackId) -> Vec<f32> {
        let mut e = Vec::with_capacity(self.params.dim);
        self.tracks.vector(&self.groups, track, &mut e);
        unit(tanh_layer(&self.w_track, &e))
    }

    /// Cosine of the towers (the score lists are ranked by).
    pub fn score(&self, user: UserId, track: TrackId) -> Option<f32> {
        let u = self.user_vector(user)?;
        Some(
            u.iter()
                .zip(self.track_vector(track))
                .map(|(a, b)| a * b)
                .sum(),
        )
    }

    /// Each known user's `k` best tracks, without the tracks `exclude` lists for them.
    pub fn recommend<S: std::hash::BuildHasher + Sync>(
        &self,
        exclude: &HashMap<UserId, Vec<TrackId>, S>,
        k: usize,
    ) -> Vec<(UserId, Vec<TrackId>)> {
        self.recommend_to(|_| true, exclude, k)
    }

    /// [`Model::recommend`] for the known users `wanted` accepts (e.g. those with held-out
    /// listens, for a per-epoch metric).
    pub fn recommend_to<S: std::hash::BuildHasher + Sync>(
        &self,
        wanted: impl Fn(UserId) -> bool,
        exclude: &HashMap<UserId, Vec<TrackId>, S>,
        k: usize,
    ) -> Vec<(UserId, Vec<TrackId>)> {
        let d = self.params.dim;
        let n = self.groups.artist.len();
        let items: Vec<f32> = (0..n as TrackId)
            .flat_map(|t| self.track_vector(t))
            .collect();
        let mut users: Vec<UserId> = self.users.keys().copied().filter(|&u| wanted(u)).collect();
        users.sort_unstable();
        let rows: Vec<f32> = users
            .iter()
            .flat_map(|&u| self.user_vector(u).unwrap_or_else(|| vec![0.0; d]))
            .collect();
        let qs: Vec<(UserId, usize)> = users.iter().copied().zip(0..).collect();
        let tops = botify_core::topk::top_k(
            &qs,
            |q| &rows[q.1 * d..(q.1 + 1) * d],
            &items,
            d,
            None,
            k,
            |q, scores| {
                for &t in exclude.get(&q.0).map_or(&[][..], |v| v) {
                    if let Some(s) = scores.get_mut(t as usize) {
                        *s = f32::NEG_INFINITY;
                    }
                }
            },
        );
        users.into_iter().zip(tops).collect()
    }

    /// One step on a batch of (user row, track) pairs; returns its loss.
    fn step(&mut self, batch: &[(usize, TrackId)], dev: &Device, learn: bool) -> Result<f64> {
        let (b, d) = (batch.len(), self.params.dim);
        let mut eu = Vec::with_capacity(b * d);
        let mut ev = Vec::with_capacity(b * d);
        for &(u, t) in batch {
            eu.extend_from_slice(self.user_rows.row(u));
            self.tracks.vector(&self.groups, t, &mut ev);
        }
        let eu = Var::from_vec(eu, (b, d), dev)?;
        let ev = Var::from_vec(ev, (b, d), dev)?;
        let wu = Var::from_slice(&self.w_user.values, (d, d), dev)?;
        let wv = Var::from_slice(&self.w_track.values, (d, d), dev)?;
        let tower = |x: &Var, w: &Var| -> candle_core::Result<Tensor> {
            let h = x.as_tensor().matmul(&w.as_tensor().t()?)?.tanh()?;
            let n = h.sqr()?.sum_keepdim(1)?.sqrt()?.affine(1.0, 1e-6)?;
            h.broadcast_div(&n)
        };
        let (u, v) = (tower(&eu, &wu)?, tower(&ev, &wv)?);
        let logits = u
            .matmul(&v.t()?)?
            .affine(1.0 / f64::from(self.params.temperature), 0.0)?;
        let max = logits.max_keepdim(1)?;
        let lse = logits
            .broadcast_sub(&max)?
            .exp()?
            .sum_keepdim(1)?
            .log()?
            .add(&max)?;
        let eye = Tensor::eye(b, DType::F32, dev)?;
        let own = (logits * eye)?.sum_keepdim(1)?;
        let loss = (lse - own)?.mean_all()?;
        let value = f64::from(loss.to_scalar::<f32>()?);
        if learn {
            let grads = loss.backward()?;
            let grad = |v: &Var| crate::gradient(&grads, v);
            let users: Vec<u32> = batch.iter().map(|p| p.0 as u32).collect();
            let tracks: Vec<u32> = batch.iter().map(|p| p.1).collect();
            self.user_rows.step_rows(&users, &grad(&eu)?);
            self.tracks.step(&self.groups, &tracks, &grad(&ev)?);
            self.w_user.step_all(&grad(&wu)?);
            self.w_track.step_all(&grad(&wv)?);
        }
        Ok(value)
    }

    /// Writes parameters, user ids, tables and the artist/genre map as one safetensors file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let dev = Device::Cpu;
        let d = self.params.dim;
        let table = |t: &SparseAdam| Tensor::from_slice(&t.values, (t.values.len() / d, d), &dev);
        let mut ids: Vec<(UserId, usize)> = self.users.iter().map(|(&u, &r)| (u, r)).collect();
        ids.sort_unstable_by_key(|x| x.1);
        let ids: Vec<u32> = ids.into_iter().map(|x| x.0).collect();
        let mut t: HashMap<String, Tensor> = HashMap::new();
        t.insert(
            "params_json".into(),
            crate::model_file::params_tensor(&self.params)?,
        );
        t.insert(
            "user_ids".into(),
            Tensor::from_slice(&ids, ids.len(), &dev)?,
        );
        t.insert("users".into(), table(&self.user_rows)?);
        t.insert("tracks.id".into(), table(&self.tracks.id)?);
        t.insert("tracks.artist".into(), table(&self.tracks.artist)?);
        t.insert("tracks.genre".into(), table(&self.tracks.genre)?);
        t.insert("w_user".into(), table(&self.w_user)?);
        t.insert("w_track".into(), table(&self.w_track)?);
        let g = &self.groups;
        t.insert(
            "artist_of".into(),
            Tensor::from_slice(&g.artist, g.artist.len(), &dev)?,
        );
        t.insert(
            "genre_of".into(),
            Tensor::from_slice(&g.genre, g.genre.len(), &dev)?,
        );
        candle_core::safetensors::save(&t, path)?;
        Ok(())
    }

    /// Reads a model written by [`Model::save`]; anything else is an error naming the file.
    pub fn load(path: &Path) -> Result<Model> {
        let mut file = crate::model_file::Reader::open(path, "DSSM")?;
        let params: Params = file.params()?;
        let (d, lr) = (params.dim, params.learning_rate);
        let mut table = |n: &str| -> Result<SparseAdam> {
            Ok(SparseAdam::new(
                file.take(n)?.flatten_all()?.to_vec1()?,
                d,
                lr,
            ))
        };
        let (user_rows, id, artist, genre, w_user, w_track) = (
            table("users")?,
            table("tracks.id")?,
            table("tracks.artist")?,
            table("tracks.genre")?,
            table("w_user")?,
            table("w_track")?,
        );
        let ids: Vec<u32> = file.take("user_ids")?.to_vec1()?;
        let artist_of: Vec<u32> = file.take("artist_of")?.to_vec1()?;
        let genre_of: Vec<u32> = file.take("genre_of")?.to_vec1()?;
        let rows = |s: &SparseAdam| s.values.len() / d.max(1);
        let groups = Groups {
            artists: rows(&artist),
            genres: rows(&genre),
            artist: artist_of,
            genre: genre_of,
        };
        let ok = d > 0
            && rows(&user_rows) == ids.len()
            && rows(&id) == groups.artist.len()
            && groups.genre.len() == groups.artist.len()
            && rows(&w_user) == d
            && rows(&w_track) == d
            && groups.artist.iter().all(|&a| (a as usize) < groups.artists)
            && groups.genre.iter().all(|&g| (g as usize) < groups.genres);
        if !ok {
            return Err(file.bad("inconsistent tensor shapes"));
        }
        Ok(Model {
            users: ids.into_iter().zip(0..).collect(),
            user_rows,
            tracks: Tower { id, artist, genre },
            w_user,
            w_track,
            groups,
            params,
        })
    }
}

/// Trains on liked (user, track) pairs over the tracks of `groups`. A seeded `validation` share
/// is held out for early stopping (the best epoch's weights are kept). `on_epoch` sees each
/// epoch's losses and the model as it stands.
pub fn fit(
    pairs: &[(UserId, TrackId)],
    groups: Groups,
    p: &Params,
    mut on_epoch: impl FnMut(&Epoch, &Model),
) -> Result<Model> {
    p.validate()?;
    let tracks = groups.artist.len();
    if let Some(bad) = pairs.iter().find(|x| x.1 as usize >= tracks) {
        return Err(Error::Invalid(format!(
            "track {} (user {}) is outside the catalogue of {tracks} tracks",
            bad.1, bad.0
        )));
    }
    let mut users: HashMap<UserId, usize> = HashMap::new();
    let rows: Vec<(usize, TrackId)> = pairs
        .iter()
        .map(|&(u, t)| {
            let n = users.len();
            (*users.entry(u).or_insert(n), t)
        })
        .collect();
    let mut rng = stream(p.seed, b"dssm", 0);
    let (mut train, held) = crate::split_validation(rows, p.validation, &mut rng);
    if train.len() < 2 {
        return Err(Error::Invalid(
            "fewer than 2 liked (user, track) pairs to train on".into(),
        ));
    }
    let d = p.dim;
    let mut init = |n: usize, scale: f32| -> Vec<f32> {
        (0..n)
            .map(|_| (rng.random::<f32>() - 0.5) * 2.0 * scale)
            .collect()
    };
    let glorot = (6.0 / (2.0 * d as f32)).sqrt();
    let mut model = Model {
        user_rows: SparseAdam::new(init(users.len() * d, 0.1), d, p.learning_rate),
        tracks: Tower::new(&groups, d, p.learning_rate, &mut |n| init(n, 0.1)),
        w_user: SparseAdam::new(init(d * d, glorot), d, p.learning_rate),
        w_track: SparseAdam::new(init(d * d, glorot), d, p.learning_rate),
        users,
        groups,
        params: p.clone(),
    };
    let mut shuffle = stream(p.seed, b"dssm-shuffle", 0);
    crate::training::run(
        &mut model,
        &mut train,
        &p.schedule(),
        &mut shuffle,
        |m, epoch, train_loss| {
            let (mut total, mut n) = (0.0, 0usize);
            for batch in held.chunks(p.batch).filter(|b| b.len() >= 2) {
                total += m.step(batch, &Device::Cpu, false)? * batch.len() as f64;
                n += batch.len();
            }
            let validation_loss = if n == 0 { f64::NAN } else { total / n as f64 };
            let e = Epoch {
                epoch,
                train_loss,
                validation_loss,
            };
            on_epoch(&e, m);
            Ok(-validation_loss)
        },
    )?;
    Ok(model)
}

impl crate::training::Trainable for Model {
    type Example = (usize, TrackId);
    type Snapshot = Model;
    fn train_step(&mut self, batch: &[(usize, TrackId)]) -> Result<f64> {
        self.step(batch, &Device::Cpu, true)
    }
    fn snapshot(&self) -> Model {
        Model::snapshot(self)
    }
    fn restore(&mut self, s: Model) {
        *self = s;
    }
}

impl Model {
    fn snapshot(&self) -> Model {
        Model {
            params: self.params.clone(),
            users: self.users.clone(),
            user_rows: self.user_rows.clone(),
            tracks: self.tracks.clone(),
            w_user: self.w_user.clone(),
            w_track: self.w_track.clone(),
            groups: self.groups.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 60 users in 3 taste groups, 30 tracks in 3 clusters; each user likes tracks of its
    /// group's cluster only.
    fn planted(seed: u64) -> Vec<(UserId, TrackId)> {
        let mut rng = stream(seed, b"planted", 0);
        (0..6000)
            .map(|_| {
                let u = rng.random_range(0..60u32);
                (u, (u % 3) * 10 + rng.random_range(0..10u32))
            })
            .collect()
    }

    fn params() -> Params {
        Params {
            dim: 16,
            epochs: 20,
            batch: 64,
            learning_rate: 0.02,
            temperature: 0.1,
            validation: 0.1,
            patience: 3,
            seed: 3,
        }
    }

    #[test]
    fn learns_the_planted_tastes_and_excludes_heard_tracks() {
        let pairs = planted(1);
        let mut curve = Vec::new();
        let m = fit(&pairs, Groups::none(30), &params(), |e, _| curve.push(*e)).unwrap();
        assert!(curve.len() >= 2 && curve[curve.len() - 1].train_loss < curve[0].train_loss);
        // Top 5 of 30 tracks: random lists would be 1/3 in the user's cluster.
        let heard: HashMap<UserId, Vec<TrackId>> = HashMap::from([(0, vec![0, 1])]);
        let lists = m.recommend(&heard, 5);
        assert_eq!(lists.len(), 60);
        let inside = lists
            .iter()
            .flat_map(|(u, l)| l.iter().map(move |t| t / 10 == u % 3))
            .filter(|&x| x)
            .count();
        assert!(inside as f64 > 0.9 * 300.0, "{inside}/300");
        let user0 = &lists.iter().find(|l| l.0 == 0).unwrap().1;
        assert!(!user0.contains(&0) && !user0.contains(&1), "{user0:?}");
        assert_eq!(m.score(999, 0), None);
    }

    #[test]
    fn saved_models_reload_to_the_same_scores_and_bad_input_is_rejected() {
        let pairs = planted(2);
        let mut p = params();
        p.epochs = 2;
        let m = fit(&pairs, Groups::none(30), &p, |_, _| {}).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.safetensors");
        m.save(&path).unwrap();
        let r = Model::load(&path).unwrap();
        for &(u, t) in &pairs[..50] {
            assert_eq!(r.score(u, t), m.score(u, t));
        }
        std::fs::write(&path, b"junk").unwrap();
        assert!(
            Model::load(&path)
                .err()
                .unwrap()
                .to_string()
                .contains("not a DSSM model")
        );
        let e = |pairs: &[(UserId, TrackId)], p: &Params, n| {
            fit(pairs, Groups::none(n), p, |_, _| {})
                .err()
                .unwrap()
                .to_string()
        };
        assert!(e(&pairs, &p, 20).contains("outside the catalogue of 20 tracks"));
        assert!(e(&[(1, 1)], &p, 30).contains("fewer than 2"));
        assert!(
            e(
                &pairs,
                &Params {
                    batch: 1,
                    ..p.clone()
                },
                30
            )
            .contains("batch")
        );
        assert!(
            e(
                &pairs,
                &Params {
                    temperature: 0.0,
                    ..p
                },
                30
            )
            .contains("temperature")
        );
    }
}
