# Generated from the model registry (crates/botify-lab/src/models); do not edit.
# BOTIFY_BLESS=1 cargo test -p botify-lab --test generated writes it again.
"""The trainers of ``botify train``, on event logs, writing the files the service serves.

Each returns a :class:`Trained`: the files written, held-out metrics, the learning curve as a
DataFrame and the lists themselves as numpy arrays. ``fit(model, ...)`` takes any model by name;
the per-model functions below take that model's parameters as typed keyword arguments, with the
defaults and help of ``botify train <model> --help`` and docs/parameters.md::

    r = botify.train.als(log_dir, "models/als.jsonl", factors=64, iterations=10)
    r.metrics["precision"], r.curve, r.lists
"""

from typing import Iterable, Literal, Optional, Sequence, Union

from . import _botify
from ._progress import ProgressArg
from ._training import PathLike, Trained, fit, read_lists, read_memory, read_tastes

__all__ = [
    "PathLike",
    "Trained",
    "fit",
    "read_lists",
    "read_memory",
    "read_tastes",
    "toppop",
    "i2i",
    "ucf",
    "rp3beta",
    "mf",
    "als",
    "ease",
    "ips",
    "lightgcn",
    "sasrec",
    "contextual",
    "item2vec",
    "taste",
    "memory",
    "dssm",
    "difm",
    "dpp",
]


def toppop(
    logs: Union[PathLike, Iterable[PathLike]],
    out: PathLike,
    *,
    catalog: Optional[PathLike] = None,
    holdout: float = _botify.DEFAULT_HOLDOUT,
    seed: int = _botify.DEFAULT_SEED,
    k: int = _botify.DEFAULT_K,
    threshold: float = _botify.DEFAULT_LIKED,
    eval_k: int = _botify.DEFAULT_EVAL_K,
    progress: ProgressArg = False,
) -> Trained:
    """Top tracks by total listen time (a JSON array).

    Trains on the logs and writes ``out`` as ``botify train toppop`` does; the shared
    arguments (``catalog``, ``holdout``, ``seed``, ``k``, ``threshold``, ``eval_k``,
    ``progress``) are those of :func:`botify.train.fit`.
    """
    return fit(
        "toppop",
        logs,
        out,
        catalog=catalog,
        holdout=holdout,
        seed=seed,
        k=k,
        threshold=threshold,
        eval_k=eval_k,
        progress=progress,
    )


def i2i(
    logs: Union[PathLike, Iterable[PathLike]],
    out: PathLike,
    *,
    mode: Literal["next", "session", "openers"] = "session",
    window: int = 5,
    min_count: int = 1,
    catalog: Optional[PathLike] = None,
    holdout: float = _botify.DEFAULT_HOLDOUT,
    seed: int = _botify.DEFAULT_SEED,
    k: int = _botify.DEFAULT_K,
    threshold: float = _botify.DEFAULT_LIKED,
    eval_k: int = _botify.DEFAULT_EVAL_K,
    progress: ProgressArg = False,
) -> Trained:
    """Item-to-item neighbours from sessions (per-track lists with weights).

    Trains on the logs and writes ``out`` as ``botify train i2i`` does; the shared
    arguments (``catalog``, ``holdout``, ``seed``, ``k``, ``threshold``, ``eval_k``,
    ``progress``) are those of :func:`botify.train.fit`.

    Args:
        mode: `session`: pairs liked within a session window; `next`: track → next track; `openers`: tracks that opened one listener's sessions (counted once per listener).
        window: Session mode: pair tracks at most this many positions apart. (1 to 1000)
        min_count: Pairs seen fewer times than this are dropped (noise; `openers`: fewer listeners).
    """
    return fit(
        "i2i",
        logs,
        out,
        catalog=catalog,
        holdout=holdout,
        seed=seed,
        k=k,
        threshold=threshold,
        eval_k=eval_k,
        progress=progress,
        mode=mode,
        window=window,
        min_count=min_count,
    )


def ucf(
    logs: Union[PathLike, Iterable[PathLike]],
    out: PathLike,
    *,
    neighbours: int = 50,
    catalog: Optional[PathLike] = None,
    holdout: float = _botify.DEFAULT_HOLDOUT,
    seed: int = _botify.DEFAULT_SEED,
    k: int = _botify.DEFAULT_K,
    threshold: float = _botify.DEFAULT_LIKED,
    eval_k: int = _botify.DEFAULT_EVAL_K,
    progress: ProgressArg = False,
) -> Trained:
    """User-based collaborative filtering (per-user lists).

    Trains on the logs and writes ``out`` as ``botify train ucf`` does; the shared
    arguments (``catalog``, ``holdout``, ``seed``, ``k``, ``threshold``, ``eval_k``,
    ``progress``) are those of :func:`botify.train.fit`.

    Args:
        neighbours: Most similar users whose likes vote for a user's list. (1 to 100000)
    """
    return fit(
        "ucf",
        logs,
        out,
        catalog=catalog,
        holdout=holdout,
        seed=seed,
        k=k,
        threshold=threshold,
        eval_k=eval_k,
        progress=progress,
        neighbours=neighbours,
    )


def rp3beta(
    logs: Union[PathLike, Iterable[PathLike]],
    out: PathLike,
    *,
    alpha: float = 0.5,
    beta: float = 0.1,
    catalog: Optional[PathLike] = None,
    holdout: float = _botify.DEFAULT_HOLDOUT,
    seed: int = _botify.DEFAULT_SEED,
    k: int = _botify.DEFAULT_K,
    threshold: float = _botify.DEFAULT_LIKED,
    eval_k: int = _botify.DEFAULT_EVAL_K,
    progress: ProgressArg = False,
) -> Trained:
    """RP3beta: a random walk user → liked track → user → liked track, popular tracks penalised (per-user lists).

    Trains on the logs and writes ``out`` as ``botify train rp3beta`` does; the shared
    arguments (``catalog``, ``holdout``, ``seed``, ``k``, ``threshold``, ``eval_k``,
    ``progress``) are those of :func:`botify.train.fit`.

    Args:
        alpha: Exponent of the walk's transition probabilities (1: the plain walk, P³; below 1 flattens them). (more than 0)
        beta: Popularity penalty: a track's score is divided by its likes to this power (0: none). (in [0, 1])
    """
    return fit(
        "rp3beta",
        logs,
        out,
        catalog=catalog,
        holdout=holdout,
        seed=seed,
        k=k,
        threshold=threshold,
        eval_k=eval_k,
        progress=progress,
        alpha=alpha,
        beta=beta,
    )


def mf(
    logs: Union[PathLike, Iterable[PathLike]],
    out: PathLike,
    *,
    search: int = 0,
    loss: Literal["bpr", "warp"] = "warp",
    factors: int = 64,
    epochs: int = 20,
    learning_rate: float = 0.05,
    l2: float = 1e-6,
    max_sampled: int = 50,
    features: Sequence[Literal["artist", "genre", "pop", "duration"]] = (),
    threads: int = 1,
    catalog: Optional[PathLike] = None,
    holdout: float = _botify.DEFAULT_HOLDOUT,
    seed: int = _botify.DEFAULT_SEED,
    k: int = _botify.DEFAULT_K,
    threshold: float = _botify.DEFAULT_LIKED,
    eval_k: int = _botify.DEFAULT_EVAL_K,
    progress: ProgressArg = False,
) -> Trained:
    """Matrix factorisation, LightFM-style (per-user lists).

    Trains on the logs and writes ``out`` as ``botify train mf`` does; the shared
    arguments (``catalog``, ``holdout``, ``seed``, ``k``, ``threshold``, ``eval_k``,
    ``progress``) are those of :func:`botify.train.fit`.

    Args:
        search: Random hyper-parameter search with this many trials (scored on the holdout, or on the last 20% of the training listens without one); the best is trained on all the training listens and written to `<out>.params.json`. (0 to 10000)
        loss: `warp` or `bpr`.
        factors: Latent factors. (1 to 4096)
        epochs: Passes over the liked listens. (1 to 100000)
        learning_rate: SGD step (Adagrad-scaled). (more than 0)
        l2: L2 penalty per update on the touched rows (LightFM's item_alpha / user_alpha). (at least 0)
        max_sampled: WARP: negatives tried per positive before giving up. (1 to 100000)
        features: Item features from the catalogue: artist, genre, pop, duration.
        threads: SGD threads: 1 is bit-reproducible for a seed; more run Hogwild-style (faster, but the result then depends on thread timing). (1 to 1024)
    """
    return fit(
        "mf",
        logs,
        out,
        catalog=catalog,
        holdout=holdout,
        seed=seed,
        k=k,
        threshold=threshold,
        eval_k=eval_k,
        progress=progress,
        search=search,
        loss=loss,
        factors=factors,
        epochs=epochs,
        learning_rate=learning_rate,
        l2=l2,
        max_sampled=max_sampled,
        features=features,
        threads=threads,
    )


def als(
    logs: Union[PathLike, Iterable[PathLike]],
    out: PathLike,
    *,
    factors: int = 64,
    iterations: int = 10,
    regularization: float = 0.1,
    alpha: float = 10.0,
    cg_steps: int = 3,
    catalog: Optional[PathLike] = None,
    holdout: float = _botify.DEFAULT_HOLDOUT,
    seed: int = _botify.DEFAULT_SEED,
    k: int = _botify.DEFAULT_K,
    threshold: float = _botify.DEFAULT_LIKED,
    eval_k: int = _botify.DEFAULT_EVAL_K,
    progress: ProgressArg = False,
) -> Trained:
    """Implicit-feedback ALS (per-user lists).

    Trains on the logs and writes ``out`` as ``botify train als`` does; the shared
    arguments (``catalog``, ``holdout``, ``seed``, ``k``, ``threshold``, ``eval_k``,
    ``progress``) are those of :func:`botify.train.fit`.

    Args:
        factors: Latent factors. (1 to 4096)
        iterations: Alternating sweeps over users and tracks. (1 to 100000)
        regularization: λ, the L2 penalty on both factor matrices. (at least 0)
        alpha: Confidence of a like: 1 + alpha × its listen time. (at least 0)
        cg_steps: Conjugate-gradient steps per row, warm-started as `implicit` does; 0 solves exactly with a Cholesky factorisation (slower, same fixed point). (0 to 1000)
    """
    return fit(
        "als",
        logs,
        out,
        catalog=catalog,
        holdout=holdout,
        seed=seed,
        k=k,
        threshold=threshold,
        eval_k=eval_k,
        progress=progress,
        factors=factors,
        iterations=iterations,
        regularization=regularization,
        alpha=alpha,
        cg_steps=cg_steps,
    )


def ease(
    logs: Union[PathLike, Iterable[PathLike]],
    out: PathLike,
    *,
    l2: float = 50.0,
    max_items: int = 3000,
    catalog: Optional[PathLike] = None,
    holdout: float = _botify.DEFAULT_HOLDOUT,
    seed: int = _botify.DEFAULT_SEED,
    k: int = _botify.DEFAULT_K,
    threshold: float = _botify.DEFAULT_LIKED,
    eval_k: int = _botify.DEFAULT_EVAL_K,
    progress: ProgressArg = False,
) -> Trained:
    """EASE: closed-form item-item weights over the most-liked tracks (per-user lists).

    Trains on the logs and writes ``out`` as ``botify train ease`` does; the shared
    arguments (``catalog``, ``holdout``, ``seed``, ``k``, ``threshold``, ``eval_k``,
    ``progress``) are those of :func:`botify.train.fit`.

    Args:
        l2: λ, the L2 penalty added to the diagonal of XᵀX. (more than 0)
        max_items: Rank the tracks liked by the most users, at most this many (memory grows as the square, time as the cube). (2 to 20000)
    """
    return fit(
        "ease",
        logs,
        out,
        catalog=catalog,
        holdout=holdout,
        seed=seed,
        k=k,
        threshold=threshold,
        eval_k=eval_k,
        progress=progress,
        l2=l2,
        max_items=max_items,
    )


def ips(
    logs: Union[PathLike, Iterable[PathLike]],
    out: PathLike,
    *,
    factors: int = 64,
    iterations: int = 10,
    regularization: float = 0.1,
    alpha: float = 10.0,
    max_weight: float = 10.0,
    catalog: Optional[PathLike] = None,
    holdout: float = _botify.DEFAULT_HOLDOUT,
    seed: int = _botify.DEFAULT_SEED,
    k: int = _botify.DEFAULT_K,
    threshold: float = _botify.DEFAULT_LIKED,
    eval_k: int = _botify.DEFAULT_EVAL_K,
    progress: ProgressArg = False,
) -> Trained:
    """IPS-debiased matrix factorisation: likes weighted by the inverse of how often the logged policy showed them (per-user lists).

    Trains on the logs and writes ``out`` as ``botify train ips`` does; the shared
    arguments (``catalog``, ``holdout``, ``seed``, ``k``, ``threshold``, ``eval_k``,
    ``progress``) are those of :func:`botify.train.fit`.

    Args:
        factors: Latent factors. (1 to 4096)
        iterations: Alternating sweeps over users and tracks. (1 to 100000)
        regularization: λ, the L2 penalty on both factor matrices. (more than 0)
        alpha: Confidence of a like: 1 + alpha × its total listen time. (at least 0)
        max_weight: Inverse propensities are clipped at this many times their median; 1 turns the reweighting off. (at least 1)
    """
    return fit(
        "ips",
        logs,
        out,
        catalog=catalog,
        holdout=holdout,
        seed=seed,
        k=k,
        threshold=threshold,
        eval_k=eval_k,
        progress=progress,
        factors=factors,
        iterations=iterations,
        regularization=regularization,
        alpha=alpha,
        max_weight=max_weight,
    )


def lightgcn(
    logs: Union[PathLike, Iterable[PathLike]],
    out: PathLike,
    *,
    dim: int = 64,
    layers: int = 3,
    epochs: int = 30,
    batch: int = 4096,
    learning_rate: float = 0.005,
    l2: float = 0.0001,
    catalog: Optional[PathLike] = None,
    holdout: float = _botify.DEFAULT_HOLDOUT,
    seed: int = _botify.DEFAULT_SEED,
    k: int = _botify.DEFAULT_K,
    threshold: float = _botify.DEFAULT_LIKED,
    eval_k: int = _botify.DEFAULT_EVAL_K,
    progress: ProgressArg = False,
) -> Trained:
    """LightGCN: BPR on the user–track graph of likes, embeddings spread over the graph (per-user lists).

    Trains on the logs and writes ``out`` as ``botify train lightgcn`` does; the shared
    arguments (``catalog``, ``holdout``, ``seed``, ``k``, ``threshold``, ``eval_k``,
    ``progress``) are those of :func:`botify.train.fit`.

    Args:
        dim: Embedding size. (1 to 4096)
        layers: Propagation layers (0: plain BPR matrix factorisation). (0 to 8)
        epochs: Passes over the liked listens. (1 to 100000)
        batch: Triples (user, liked track, negative) per gradient step. (1 to 1000000)
        learning_rate: Adam's step size. (more than 0)
        l2: L2 penalty on the batch's layer-0 embeddings. (at least 0)
    """
    return fit(
        "lightgcn",
        logs,
        out,
        catalog=catalog,
        holdout=holdout,
        seed=seed,
        k=k,
        threshold=threshold,
        eval_k=eval_k,
        progress=progress,
        dim=dim,
        layers=layers,
        epochs=epochs,
        batch=batch,
        learning_rate=learning_rate,
        l2=l2,
    )


def sasrec(
    logs: Union[PathLike, Iterable[PathLike]],
    out: PathLike,
    *,
    dim: int = 64,
    blocks: int = 2,
    max_len: int = 16,
    epochs: int = 10,
    batch: int = 128,
    negatives: int = 512,
    learning_rate: float = 0.002,
    min_count: int = 1,
    catalog: Optional[PathLike] = None,
    holdout: float = _botify.DEFAULT_HOLDOUT,
    seed: int = _botify.DEFAULT_SEED,
    k: int = _botify.DEFAULT_K,
    threshold: float = _botify.DEFAULT_LIKED,
    eval_k: int = _botify.DEFAULT_EVAL_K,
    progress: ProgressArg = False,
) -> Trained:
    """SASRec: causal self-attention over each session's liked tracks (per-track lists of predicted next tracks).

    Trains on the logs and writes ``out`` as ``botify train sasrec`` does; the shared
    arguments (``catalog``, ``holdout``, ``seed``, ``k``, ``threshold``, ``eval_k``,
    ``progress``) are those of :func:`botify.train.fit`.

    Args:
        dim: Embedding and hidden size. (1 to 4096)
        blocks: Self-attention blocks. (1 to 64)
        max_len: Positions a session keeps (its last liked tracks). (2 to 256)
        epochs: Passes over the sessions. (1 to 100000)
        batch: Sessions per batch. (1 to 1000000)
        negatives: Sampled negatives per batch (a sampled softmax), shared by its positions. (1 to 100000)
        learning_rate: Adam's step size. (more than 0)
        min_count: Tracks liked fewer times are left out (no embedding, no list).
    """
    return fit(
        "sasrec",
        logs,
        out,
        catalog=catalog,
        holdout=holdout,
        seed=seed,
        k=k,
        threshold=threshold,
        eval_k=eval_k,
        progress=progress,
        dim=dim,
        blocks=blocks,
        max_len=max_len,
        epochs=epochs,
        batch=batch,
        negatives=negatives,
        learning_rate=learning_rate,
        min_count=min_count,
    )


def contextual(
    logs: Union[PathLike, Iterable[PathLike]],
    out: PathLike,
    *,
    context: Literal["previous", "anchor"] = "previous",
    dim: int = 128,
    similarity: Literal["dot", "cosine"] = "dot",
    loss: Literal["mse", "mae"] = "mse",
    epochs: int = 10,
    batch: int = 4096,
    learning_rate: float = 0.01,
    validation: float = 0.1,
    patience: int = 2,
    min_count: int = 3,
    catalog: Optional[PathLike] = None,
    holdout: float = _botify.DEFAULT_HOLDOUT,
    seed: int = _botify.DEFAULT_SEED,
    k: int = _botify.DEFAULT_K,
    threshold: float = _botify.DEFAULT_LIKED,
    eval_k: int = _botify.DEFAULT_EVAL_K,
    progress: ProgressArg = False,
) -> Trained:
    """Neural contextual item-to-item model (per-track lists weighted by predicted listen time).

    Trains on the logs and writes ``out`` as ``botify train contextual`` does; the shared
    arguments (``catalog``, ``holdout``, ``seed``, ``k``, ``threshold``, ``eval_k``,
    ``progress``) are those of :func:`botify.train.fit`.

    Args:
        context: `previous`: learn each listen's time against the session's previous track (the course's pairs); `anchor`: against the session's first track.
        dim: Embedding size. (1 to 4096)
        similarity: `dot`: element-wise product and a linear layer (the seminar's); `cosine` (the homework's).
        loss: `mse` or `mae`.
        epochs: Passes over the training pairs (fewer if validation stops it). (1 to 100000)
        batch: Pairs per gradient step. (1 to 1000000)
        learning_rate: Adam's step size. (more than 0)
        validation: Share of (track → next track) pairs held out for validation loss, hit rate and early stopping. (in [0, 1))
        patience: Epochs without a better validation loss before stopping. (1 to 100000)
        min_count: Tracks seen fewer times than this in the pairs get no list and are nobody's neighbour: their embeddings have seen too little data to be more than noise.
    """
    return fit(
        "contextual",
        logs,
        out,
        catalog=catalog,
        holdout=holdout,
        seed=seed,
        k=k,
        threshold=threshold,
        eval_k=eval_k,
        progress=progress,
        context=context,
        dim=dim,
        similarity=similarity,
        loss=loss,
        epochs=epochs,
        batch=batch,
        learning_rate=learning_rate,
        validation=validation,
        patience=patience,
        min_count=min_count,
    )


def item2vec(
    logs: Union[PathLike, Iterable[PathLike]],
    out: PathLike,
    *,
    dim: int = 32,
    window: int = 5,
    negatives: int = 5,
    epochs: int = 20,
    learning_rate: float = 0.1,
    sentence_threshold: float = 0.7,
    min_count: int = 1,
    subsample: float = 0.001,
    catalog: Optional[PathLike] = None,
    holdout: float = _botify.DEFAULT_HOLDOUT,
    seed: int = _botify.DEFAULT_SEED,
    k: int = _botify.DEFAULT_K,
    threshold: float = _botify.DEFAULT_LIKED,
    eval_k: int = _botify.DEFAULT_EVAL_K,
    progress: ProgressArg = False,
) -> Trained:
    """item2vec: skip-gram with negative sampling over sessions (per-track lists by cosine).

    Trains on the logs and writes ``out`` as ``botify train item2vec`` does; the shared
    arguments (``catalog``, ``holdout``, ``seed``, ``k``, ``threshold``, ``eval_k``,
    ``progress``) are those of :func:`botify.train.fit`.

    Args:
        dim: Vector size. (1 to 4096)
        window: Context: liked tracks at most this many positions apart in a session. (1 to 1000)
        negatives: Negative tracks per (track, context) pair, drawn by popularity^0.75. (1 to 100000)
        epochs: Passes over the sentences. (1 to 100000)
        learning_rate: Initial SGD step, decaying linearly to 0.01% of it; word2vec's 0.025 suits corpora of billions of words, a day of logs learns far more with 0.1 (docs/models.md). (more than 0)
        sentence_threshold: Listens of at least this time make the sentences; 0 keeps every listen (the held-out hit rate about doubles, yet served online the lists lose to StickyArtist: docs/models.md). (in [0, 1])
        min_count: Tracks liked fewer times than this get no vector and no list.
        subsample: word2vec's subsampling t: a track of frequency f is kept with probability √(t/f) + t/f (0 keeps every listen). (at least 0)
    """
    return fit(
        "item2vec",
        logs,
        out,
        catalog=catalog,
        holdout=holdout,
        seed=seed,
        k=k,
        threshold=threshold,
        eval_k=eval_k,
        progress=progress,
        dim=dim,
        window=window,
        negatives=negatives,
        epochs=epochs,
        learning_rate=learning_rate,
        sentence_threshold=sentence_threshold,
        min_count=min_count,
        subsample=subsample,
    )


def taste(
    logs: Union[PathLike, Iterable[PathLike]],
    out: PathLike,
    *,
    dim: int = 64,
    epochs: int = 8,
    learning_rate: float = 0.05,
    l2: float = 0.0001,
    genre_l2: float = 0.03,
    min_count: int = 5,
    repeat_prior: float = 10.0,
    catalog: Optional[PathLike] = None,
    holdout: float = _botify.DEFAULT_HOLDOUT,
    seed: int = _botify.DEFAULT_SEED,
    k: int = _botify.DEFAULT_K,
    threshold: float = _botify.DEFAULT_LIKED,
    eval_k: int = _botify.DEFAULT_EVAL_K,
    progress: ProgressArg = False,
) -> Trained:
    """Artist taste vectors learned from listen times against the session's first track (served by `session_taste`; needs the catalogue).

    Trains on the logs and writes ``out`` as ``botify train taste`` does; the shared
    arguments (``catalog``, ``holdout``, ``seed``, ``k``, ``threshold``, ``eval_k``,
    ``progress``) are those of :func:`botify.train.fit`.

    Args:
        dim: Vector size. (1 to 4096)
        epochs: Passes over the (session anchor, listen) pairs. (1 to 100000)
        learning_rate: Adagrad step. (more than 0)
        l2: L2 penalty on the artist vectors, per pair (with a genre prior: on an artist without a genre). (at least 0)
        genre_l2: The genre prior: an artist's vector is its genre's shared vector plus its own offset, and this is the L2 penalty on the offset, per pair; an artist seldom heard stays near its genre. 0: no prior (also for a catalogue without genres). (at least 0)
        min_count: Tracks listened fewer times are left out; an artist with none left gets no vector.
        repeat_prior: The weight, in plays, of every artist's mean in each artist's `repeat` time. (at least 0)
    """
    return fit(
        "taste",
        logs,
        out,
        catalog=catalog,
        holdout=holdout,
        seed=seed,
        k=k,
        threshold=threshold,
        eval_k=eval_k,
        progress=progress,
        dim=dim,
        epochs=epochs,
        learning_rate=learning_rate,
        l2=l2,
        genre_l2=genre_l2,
        min_count=min_count,
        repeat_prior=repeat_prior,
    )


def memory(
    logs: Union[PathLike, Iterable[PathLike]],
    out: PathLike,
    *,
    min_time: float = 0.5,
    per_anchor: int = 50,
    catalog: Optional[PathLike] = None,
    holdout: float = _botify.DEFAULT_HOLDOUT,
    seed: int = _botify.DEFAULT_SEED,
    k: int = _botify.DEFAULT_K,
    threshold: float = _botify.DEFAULT_LIKED,
    eval_k: int = _botify.DEFAULT_EVAL_K,
    progress: ProgressArg = False,
) -> Trained:
    """Each user's long listens in the logged sessions, by the artist each session opened on (recalled by `session_taste`'s `memory`; needs the catalogue).

    Trains on the logs and writes ``out`` as ``botify train memory`` does; the shared
    arguments (``catalog``, ``holdout``, ``seed``, ``k``, ``threshold``, ``eval_k``,
    ``progress``) are those of :func:`botify.train.fit`.

    Args:
        min_time: Tracks whose mean time falls below this are left out (the recall threshold serves only longer ones anyway). (in [0, 1])
        per_anchor: At most this many tracks per user and opening artist, longest first. (1 to 100000)
    """
    return fit(
        "memory",
        logs,
        out,
        catalog=catalog,
        holdout=holdout,
        seed=seed,
        k=k,
        threshold=threshold,
        eval_k=eval_k,
        progress=progress,
        min_time=min_time,
        per_anchor=per_anchor,
    )


def dssm(
    logs: Union[PathLike, Iterable[PathLike]],
    out: PathLike,
    *,
    dim: int = 64,
    epochs: int = 10,
    batch: int = 1024,
    learning_rate: float = 0.01,
    temperature: float = 0.1,
    validation: float = 0.1,
    patience: int = 2,
    catalog: Optional[PathLike] = None,
    holdout: float = _botify.DEFAULT_HOLDOUT,
    seed: int = _botify.DEFAULT_SEED,
    k: int = _botify.DEFAULT_K,
    threshold: float = _botify.DEFAULT_LIKED,
    eval_k: int = _botify.DEFAULT_EVAL_K,
    progress: ProgressArg = False,
) -> Trained:
    """Two-tower DSSM (per-user lists).

    Trains on the logs and writes ``out`` as ``botify train dssm`` does; the shared
    arguments (``catalog``, ``holdout``, ``seed``, ``k``, ``threshold``, ``eval_k``,
    ``progress``) are those of :func:`botify.train.fit`.

    Args:
        dim: Tower output size. (1 to 4096)
        epochs: Passes over the pairs (fewer if validation stops it). (1 to 100000)
        batch: Pairs per batch; the other tracks of a batch are each pair's negatives. (2 to 1000000)
        learning_rate: Adam's step size. (more than 0)
        temperature: Softmax temperature over the towers' cosines. (more than 0)
        validation: Share of pairs held out for the validation loss and early stopping. (in [0, 1))
        patience: Epochs without a better validation loss before stopping. (1 to 100000)
    """
    return fit(
        "dssm",
        logs,
        out,
        catalog=catalog,
        holdout=holdout,
        seed=seed,
        k=k,
        threshold=threshold,
        eval_k=eval_k,
        progress=progress,
        dim=dim,
        epochs=epochs,
        batch=batch,
        learning_rate=learning_rate,
        temperature=temperature,
        validation=validation,
        patience=patience,
    )


def difm(
    logs: Union[PathLike, Iterable[PathLike]],
    out: PathLike,
    *,
    candidates: PathLike,
    dim: int = 16,
    heads: int = 2,
    head_dim: int = 8,
    hidden: Sequence[int] = (128, 64),
    components: int = 150,
    pop_buckets: int = 10,
    positive: float = 0.6,
    negative: float = 0.3,
    epochs: int = 10,
    batch: int = 1024,
    learning_rate: float = 0.002,
    l2: float = 0.0001,
    validation: float = 0.1,
    patience: int = 2,
    catalog: Optional[PathLike] = None,
    holdout: float = _botify.DEFAULT_HOLDOUT,
    seed: int = _botify.DEFAULT_SEED,
    k: int = _botify.DEFAULT_K,
    threshold: float = _botify.DEFAULT_LIKED,
    eval_k: int = _botify.DEFAULT_EVAL_K,
    progress: ProgressArg = False,
) -> Trained:
    """DIFM listen/skip classifier re-ranking per-user candidate lists (per-user lists).

    Trains on the logs and writes ``out`` as ``botify train difm`` does; the shared
    arguments (``catalog``, ``holdout``, ``seed``, ``k``, ``threshold``, ``eval_k``,
    ``progress``) are those of :func:`botify.train.fit`.

    Args:
        candidates: Per-user candidate lists to re-rank, e.g. `botify train mf`'s output.
        dim: Embedding size of every field (the homework: 16). (1 to 4096)
        heads: Self-attention heads. (1 to 256)
        head_dim: Size of each attention head. (1 to 4096)
        hidden: Hidden layer sizes of the bit-wise DNN, e.g. 128,64. (in [1, 65536])
        components: Principal components kept of the track metadata (the homework: 150). (1 to 512)
        pop_buckets: Popularity buckets (quantiles of play counts; tracks never played get their own). (1 to 1000)
        positive: Listens of at least this are positives … (in [0, 1])
        negative: … each paired with one of the same user's listens of at most this. (in [0, 1])
        epochs: Passes over the examples (fewer if validation stops it). (1 to 100000)
        batch: Examples per gradient step. (1 to 1000000)
        learning_rate: Adam's step size. (more than 0)
        l2: L2 penalty on the embedding rows a batch uses (as DeepCTR's `l2_reg_embedding`): it keeps rarely seen users and tracks near the shared rows. (at least 0)
        validation: Share of examples held out for validation AUC and early stopping. (in [0, 1))
        patience: Epochs without a better validation AUC before stopping. (1 to 100000)
    """
    return fit(
        "difm",
        logs,
        out,
        catalog=catalog,
        holdout=holdout,
        seed=seed,
        k=k,
        threshold=threshold,
        eval_k=eval_k,
        progress=progress,
        candidates=candidates,
        dim=dim,
        heads=heads,
        head_dim=head_dim,
        hidden=hidden,
        components=components,
        pop_buckets=pop_buckets,
        positive=positive,
        negative=negative,
        epochs=epochs,
        batch=batch,
        learning_rate=learning_rate,
        l2=l2,
        validation=validation,
        patience=patience,
    )


def dpp(
    logs: Union[PathLike, Iterable[PathLike]],
    out: PathLike,
    *,
    candidates: PathLike,
    depth: int = 100,
    theta: float = 0.7,
    artist: float = 3.0,
    genre: float = 0.5,
    catalog: Optional[PathLike] = None,
    holdout: float = _botify.DEFAULT_HOLDOUT,
    seed: int = _botify.DEFAULT_SEED,
    k: int = _botify.DEFAULT_K,
    threshold: float = _botify.DEFAULT_LIKED,
    eval_k: int = _botify.DEFAULT_EVAL_K,
    progress: ProgressArg = False,
) -> Trained:
    """DPP diversity re-ranking of per-user or per-track lists by artist and genre (the same kind of lists).

    Trains on the logs and writes ``out`` as ``botify train dpp`` does; the shared
    arguments (``catalog``, ``holdout``, ``seed``, ``k``, ``threshold``, ``eval_k``,
    ``progress``) are those of :func:`botify.train.fit`.

    Args:
        candidates: Per-user or per-track lists to re-rank (e.g. `botify train als`'s or `contextual`'s).
        depth: Re-rank each list's first tracks, this many (the rest follow in their order). (2 to 10000)
        theta: Relevance against diversity in [0, 1): 0 orders by diversity alone, near 1 keeps the list's order. (in [0, 1))
        artist: Similarity weight of two tracks by the same artist (0: artists do not matter). (at least 0)
        genre: Similarity weight of two tracks of the same genre. (at least 0)
    """
    return fit(
        "dpp",
        logs,
        out,
        catalog=catalog,
        holdout=holdout,
        seed=seed,
        k=k,
        threshold=threshold,
        eval_k=eval_k,
        progress=progress,
        candidates=candidates,
        depth=depth,
        theta=theta,
        artist=artist,
        genre=genre,
    )
