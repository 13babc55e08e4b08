#!/usr/bin/env python3
"""How close the default plan's policies come to the oracle, world by world.

For each generator config in bench/worlds (or the ones named): generate the world, run the
default plan on it in-process, then simulate 20,000 sessions of the A/B day (the plan's seed, the
day after its collection days, so no session is one the models learned from) with the run's own
models for the oracle, StickyArtist and each treatment asked for (by default the plan's T4 and
T9), and print mean listening time per session with its share of the oracle's. The oracle is the
simulator's: the greedy best expected listen time over the whole catalogue at every step.

    python3 bench/oracle_share.py --bin target/release/botify --out /tmp/oracle-share
    python3 bench/oracle_share.py --bin target/release/botify --out /tmp/oracle-share \\
        --skip-run --spec 'mine={ type = "session_taste", file = "{RUN}/models/taste.jsonl" }'

A world whose run directory already holds results.json is not run again (`--rerun` forces it);
`--skip-run` only simulates. Standard library only (Python 3.11+).
"""

import argparse
import json
import pathlib
import re
import subprocess
import sys
import tomllib

HERE = pathlib.Path(__file__).resolve().parent


def inline(value):
    """A TOML inline value (the recommender specs are tables of scalars and tables)."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {inline(v)}" for k, v in value.items()) + " }"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(inline(v) for v in value) + "]"
    return repr(value)


def run(cmd, **kw):
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if done.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def simulate(binary, world, spec, episodes, log_dir, seed, day):
    out = run([binary, "sim", "-q", "--world", world, "--episodes", str(episodes),
               "--seed", str(seed), "--start-day", str(day),
               "--log-dir", log_dir, "--recommender", spec])
    # "    1        all      20000          18.581 ± 0.186         23.581 ± 0.189"
    m = re.search(r"\ball\s+\d+\s+([-\d.]+) ± ([\d.]+)", out)
    if not m:
        sys.exit(f"no result line in the simulator's output:\n{out}")
    return float(m.group(1)), float(m.group(2))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("worlds", nargs="*", help="names of bench/worlds/*.toml (default: all)")
    ap.add_argument("--bin", default="target/release/botify")
    ap.add_argument("--out", required=True, help="directory for the worlds and runs")
    ap.add_argument("--episodes", type=int, default=20000)
    ap.add_argument("--treatments", default="T4,T9", help="the plan's treatments to simulate")
    ap.add_argument("--spec", action="append", default=[],
                    help="NAME=SPEC: another recommender to simulate ({RUN} is the run directory)")
    ap.add_argument("--plan", help="plan file to run instead of the built-in default")
    ap.add_argument("--skip-run", action="store_true", help="only simulate (runs must exist)")
    ap.add_argument("--rerun", action="store_true", help="run the plan even where it ran")
    ap.add_argument("--json", help="write the table here as JSON")
    a = ap.parse_args()

    names = a.worlds or sorted(p.stem for p in (HERE / "worlds").glob("*.toml"))
    out = pathlib.Path(a.out).resolve()
    plan_text = pathlib.Path(a.plan).read_text() if a.plan else run([a.bin, "experiment", "default"])
    rows = []
    for name in names:
        config = HERE / "worlds" / f"{name}.toml"
        params = tomllib.loads(config.read_text())
        base = out / name
        world, run_dir = base / "world", base / "run"
        if not a.skip_run and (a.rerun or not (run_dir / "results.json").exists()):
            base.mkdir(parents=True, exist_ok=True)
            print(f"{name}: generating and running the plan", file=sys.stderr, flush=True)
            run([a.bin, "-q", "world", "generate", "--config", config, "--out", world, "--force"])
            plan = re.sub(r"^seed = \d+$", f"seed = {params.get('seed', 31337)}", plan_text,
                          count=1, flags=re.M)
            plan = plan.replace("[world]\n", f"[world]\ndir = {json.dumps(str(world))}\n", 1)
            (base / "plan.toml").write_text(plan)
            run([a.bin, "-q", "experiment", "run", base / "plan.toml", "--in-process",
                 "--out", run_dir])
        treatments = tomllib.loads((run_dir / "experiments.toml").read_text())["experiment"][0][
            "treatments"]
        # The A/B day's listeners (the plan's seed, the day after the collection days): the
        # collection days' sessions are in the logs the models learned from.
        ran = tomllib.loads((run_dir / "plan.toml").read_text())
        seed = ran["seed"]
        day2 = ran.get("day2", {})
        ab_day = 1 + (day2.get("rounds", 1) if day2.get("episodes", 0) > 0 else 0)
        specs = [("oracle", "oracle"), ("StickyArtist", "sticky-artist")]
        specs += [(t, inline(treatments[t])) for t in a.treatments.split(",") if t]
        specs += [tuple(s.split("=", 1)) for s in a.spec]
        row = {"world": name, "params": params}
        for label, spec in specs:
            spec = spec.replace("{RUN}", str(run_dir))
            print(f"{name}: {label}", file=sys.stderr, flush=True)
            row[label] = simulate(a.bin, str(world), spec, a.episodes,
                                  str(base / "sim"), seed, ab_day)
        rows.append(row)
        oracle = row["oracle"][0]
        cells = [f"{row[l][0]:.2f} ({100 * row[l][0] / oracle:.1f}%)" for l, _ in specs[1:]]
        print(f"| {name} | {oracle:.2f} | " + " | ".join(cells) + " |", flush=True)
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
