//! What the registry tells people: the parameter tables of docs/parameters.md and the typed
//! Python functions of `botify.train` (python/botify/train.py). Both files are generated
//! from [`REGISTRY`]; a test fails when either is stale (`BOTIFY_BLESS=1 cargo test -p
//! botify-lab --test generated` writes them again).

use super::REGISTRY;
use super::trainer::Trainer;
use botify_core::params::{Field, Kind, show};
use serde_json::Value;
use std::fmt::Write;

/// How a shared field is described in place of its default.
fn shared_note(f: &Field) -> Option<String> {
    f.rule
        .shared
        .map(|s| format!("`--{0}` / `train.{0}`", s.name()))
}

fn default_text(f: &Field, v: Option<&Value>) -> String {
    if let Some(s) = shared_note(f) {
        return s;
    }
    if f.rule.required {
        return "required".into();
    }
    match v.map(show) {
        Some(s) if s.is_empty() => "none".into(),
        Some(s) => format!("`{s}`"),
        None => String::new(),
    }
}

fn flag_text(f: &Field) -> String {
    match f.rule.alias {
        Some(a) => format!("`--{}` (`--{a}`)", f.flag()),
        None => format!("`--{}`", f.flag()),
    }
}

fn valid_text(f: &Field) -> String {
    let mut parts = Vec::new();
    if let Kind::Choice(_) | Kind::List(_) | Kind::Path = f.kind {
        parts.push(f.kind.describe());
    }
    let b = f.bounds();
    if !b.is_empty() {
        parts.push(b);
    }
    parts.join(", ")
}

/// docs/parameters.md.
pub fn markdown() -> String {
    let mut s = String::from(
        "# Model parameters\n\n\
         <!-- Generated from the model registry (crates/botify-lab/src/models); do not edit.\n     \
         BOTIFY_BLESS=1 cargo test -p botify-lab --test generated writes it again. -->\n\n\
         Every model's parameters, as `botify train <model> --<flag>`, as keys of a plan's\n\
         `[train.<model>]` table and as keyword arguments of `botify.train.<model>(...)` in Python\n\
         (the name in the first column). Values outside the valid range are refused before any\n\
         data is read, with an error that names the parameter.\n\n\
         Every model also takes the shared settings: `--k` (tracks per list, a plan's `train.k`),\n\
         `--threshold` (a listen at least this long is liked, `train.threshold`), `--seed` (the\n\
         plan's `seed`), `--eval-k`, `--holdout` and `--catalog`. A parameter whose default names a\n\
         setting takes the setting's value unless its own table sets it.\n\n\
         A plan may train one model twice under two names: `[train.<name>]` with\n\
         `model = \"<registry name>\"` and, optionally, `out = \"models/<file>\"` (docs/experiment.md).\n",
    );
    for t in REGISTRY {
        let _ = write!(
            s,
            "\n## {}\n\n{}\n\nWrites `models/{}` in a plan's run.\n",
            t.name(),
            t.about(),
            t.file()
        );
        let fields = t.fields();
        if fields.is_empty() {
            s.push_str("\nNo parameters of its own.\n");
            continue;
        }
        s.push_str("\n| parameter | flag | default | valid | what |\n|---|---|---|---|---|\n");
        let defaults = t.defaults();
        for f in fields {
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} | {} |",
                f.name,
                flag_text(f),
                default_text(f, defaults.get(f.name)),
                valid_text(f),
                f.help().replace('|', "\\|")
            );
        }
    }
    s
}

/// A default as a Python literal (lists as tuples: defaults must not be mutable).
fn python_literal(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(python_literal).collect();
            match inner.len() {
                1 => format!("({},)", inner[0]),
                _ => format!("({})", inner.join(", ")),
            }
        }
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

fn python_function(t: &dyn Trainer, out: &mut String) {
    let name = t.name();
    let defaults = t.defaults();
    let own: Vec<&Field> = t
        .fields()
        .into_iter()
        .filter(|f| f.rule.shared.is_none())
        .collect();
    let _ = write!(
        out,
        "\n\ndef {name}(\n    logs: Union[PathLike, Iterable[PathLike]],\n    out: PathLike,\n    *,\n"
    );
    for f in &own {
        if f.rule.required {
            let _ = writeln!(out, "    {}: {},", f.name, f.kind.python());
        } else {
            let v = defaults.get(f.name).unwrap_or(&Value::Null);
            let _ = writeln!(
                out,
                "    {}: {} = {},",
                f.name,
                f.kind.python(),
                python_literal(v)
            );
        }
    }
    out.push_str(
        "    catalog: Optional[PathLike] = None,\n    \
         holdout: float = _botify.DEFAULT_HOLDOUT,\n    \
         seed: int = _botify.DEFAULT_SEED,\n    \
         k: int = _botify.DEFAULT_K,\n    \
         threshold: float = _botify.DEFAULT_LIKED,\n    \
         eval_k: int = _botify.DEFAULT_EVAL_K,\n    \
         progress: ProgressArg = False,\n\
         ) -> Trained:\n",
    );
    let _ = write!(
        out,
        "    \"\"\"{}\n\n    Trains on the logs and writes ``out`` as ``botify train {name}`` does; the shared\n    \
         arguments (``catalog``, ``holdout``, ``seed``, ``k``, ``threshold``, ``eval_k``,\n    \
         ``progress``) are those of :func:`botify.train.fit`.\n",
        t.about()
    );
    if !own.is_empty() {
        out.push_str("\n    Args:\n");
        for f in &own {
            let b = f.bounds();
            let b = if b.is_empty() {
                String::new()
            } else {
                format!(" ({b})")
            };
            let _ = writeln!(out, "        {}: {}{b}", f.name, f.help());
        }
    }
    out.push_str("    \"\"\"\n");
    let passed: Vec<String> = own.iter().map(|f| format!("{0}={0}", f.name)).collect();
    let _ = write!(
        out,
        "    return fit(\n        {name:?},\n        logs,\n        out,\n        catalog=catalog,\n        \
         holdout=holdout,\n        seed=seed,\n        k=k,\n        threshold=threshold,\n        \
         eval_k=eval_k,\n        progress=progress,\n"
    );
    for p in passed {
        let _ = writeln!(out, "        {p},");
    }
    out.push_str("    )\n");
}

/// python/botify/_trainers.py.
pub fn python() -> String {
    let kinds: Vec<Kind> = REGISTRY
        .iter()
        .flat_map(|t| t.fields())
        .filter(|f| f.rule.shared.is_none())
        .map(|f| f.kind)
        .collect();
    let uses = |want: fn(&Kind) -> bool| {
        kinds
            .iter()
            .any(|k| want(k) || matches!(k, Kind::List(inner) if want(inner)))
    };
    let mut typing = vec!["Iterable"];
    if uses(|k| matches!(k, Kind::Choice(_))) {
        typing.push("Literal");
    }
    typing.push("Optional");
    if uses(|k| matches!(k, Kind::List(_))) {
        typing.push("Sequence");
    }
    typing.push("Union");
    let mut s = format!(
        "# Generated from the model registry (crates/botify-lab/src/models); do not edit.\n\
         # BOTIFY_BLESS=1 cargo test -p botify-lab --test generated writes it again.\n\
         \"\"\"The trainers of ``botify train``, on event logs, writing the files the service serves.\n\n\
         Each returns a :class:`Trained`: the files written, held-out metrics, the learning curve as a\n\
         DataFrame and the lists themselves as numpy arrays. ``fit(model, ...)`` takes any model by name;\n\
         the per-model functions below take that model's parameters as typed keyword arguments, with the\n\
         defaults and help of ``botify train <model> --help`` and docs/parameters.md::\n\n    \
         r = botify.train.als(log_dir, \"models/als.jsonl\", factors=64, iterations=10)\n    \
         r.metrics[\"precision\"], r.curve, r.lists\n\
         \"\"\"\n\n\
         from typing import {typing}\n\n\
         from . import _botify\n\
         from ._progress import ProgressArg\n\
         from ._training import PathLike, Trained, fit, read_lists, read_memory, read_tastes\n\n",
        typing = typing.join(", ")
    );
    let names: Vec<String> = [
        "PathLike",
        "Trained",
        "fit",
        "read_lists",
        "read_memory",
        "read_tastes",
    ]
    .into_iter()
    .chain(REGISTRY.iter().map(|t| t.name()))
    .map(|n| format!("    {n:?},\n"))
    .collect();
    let _ = writeln!(s, "__all__ = [\n{}]", names.concat());
    for t in REGISTRY {
        python_function(*t, &mut s);
    }
    s
}
