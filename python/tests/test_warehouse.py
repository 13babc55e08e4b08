"""Logs for warehouses: `botify.export_parquet` writes typed Parquet that DuckDB reads, and the
A/B table computed in SQL from it (examples/python/duckdb_ab.py) is `botify.ab`'s."""

import importlib.util
import subprocess

import pytest

import botify
from conftest import ROOT

duckdb = pytest.importorskip("duckdb")
pytest.importorskip("scipy")


def example():
    spec = importlib.util.spec_from_file_location(
        "duckdb_ab", ROOT / "examples" / "python" / "duckdb_ab.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_same_table(sql, native):
    merged = sql.merge(native, on=["treatment", "metric"], suffixes=("_sql", ""))
    assert len(merged) == len(native) > 0
    for col in ["control_mean", "treatment_mean", "effect", "lower", "upper", "p_value",
                "control_users", "treatment_users"]:
        diff = (merged[f"{col}_sql"] - merged[col]).abs()
        scale = merged[col].abs().clip(lower=1e-9)
        assert (diff / scale).max() < 1e-6, (col, merged[[f"{col}_sql", col]])


def test_parquet_export_gives_the_ab_table_in_sql(world, tmp_path, cli):
    log = tmp_path / "log"
    botify.simulate(world, {"C": "sticky_artist", "T1": "random", "T2": "random"},
                    episodes=3_000, seed=11, log_dir=log, experiment="AB")
    out = tmp_path / "pq"
    files = botify.export_parquet(log, out)
    events = botify.read_log(log)
    assert files["rows"].sum() == len(events)
    assert files.attrs["read"]["experiments"] == ["AB"]

    # Typed columns, the experiments as a map, days as Hive partitions.
    con = duckdb.connect()
    described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{out}/*/*.parquet', "
                            "hive_partitioning = true)").fetchall()
    schema = {row[0]: row[1] for row in described}
    assert schema["timestamp"].startswith("TIMESTAMP")
    assert schema["user"] == "BIGINT" and schema["time"] == "FLOAT"
    assert schema["latency"] == "DOUBLE" and schema["propensity"] == "DOUBLE"
    assert schema["experiments"] == "MAP(VARCHAR, VARCHAR)"
    assert "day" in schema
    nulls, lasts = con.execute(f"SELECT count(*) FILTER (WHERE recommendation IS NULL), "
                               f"count(*) FILTER (WHERE message = 'last') "
                               f"FROM read_parquet('{out}/*/*.parquet')").fetchone()
    assert nulls == lasts == (events["message"] == "last").sum()

    # read_log gives the export's types: the same rows, value for value.
    rows = con.execute(f"SELECT message, timestamp, \"user\", track, time, latency, "
                       f"recommendation, propensity, experiments['AB'] AS AB "
                       f"FROM read_parquet('{out}/*/*.parquet') ORDER BY \"user\", timestamp").df()
    assert (rows["timestamp"].dt.tz is not None) and (events["timestamp"].dt.tz is not None)
    assert (rows["timestamp"].to_numpy() == events["timestamp"].to_numpy()).all()
    assert rows["recommendation"].isna().sum() == events["recommendation"].isna().sum() == lasts
    assert (rows["recommendation"].dropna().astype("int64").to_numpy()
            == events["recommendation"].dropna().to_numpy()).all()
    assert (rows["user"].to_numpy() == events["user"].to_numpy()).all()
    assert (rows["AB"].to_numpy() == events["AB"].astype(str).to_numpy()).all()

    assert_same_table(example().ab_table(str(out), "AB"), botify.ab(log, "AB", correction="none"))

    # The CLI writes the same files; a non-empty output directory is refused, nothing touched.
    again = tmp_path / "pq2"
    subprocess.run([cli, "log", "export", "--out", str(again), str(log)], check=True,
                   capture_output=True)
    assert con.execute(f"SELECT count(*) FROM read_parquet('{again}/*/*.parquet')").fetchone()[0] \
        == len(events)
    refused = subprocess.run([cli, "log", "export", "--out", str(again), str(log)],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "not empty" in refused.stderr
    with pytest.raises(botify.BotifyError, match="not empty"):
        botify.export_parquet(log, out)


def test_days_with_different_experiments_load_in_one_query_and_append_adds_only_new_lines(
        world, tmp_path, cli):
    # Day 0 runs experiment AB; day 1 (another log directory, as a new deployment would) runs XY.
    day0, day1 = tmp_path / "day0", tmp_path / "day1"
    botify.simulate(world, {"C": "sticky_artist", "T1": "random"}, episodes=1_500, seed=4,
                    log_dir=day0, experiment="AB")
    botify.simulate(world, {"C": "random", "T1": "sticky_artist", "T2": "sticky_artist"},
                    episodes=1_500, seed=5, start_day=1, log_dir=day1, experiment="XY")
    out = tmp_path / "warehouse"
    first = subprocess.run([cli, "log", "export", "--append", "--out", str(out), str(day0)],
                           check=True, capture_output=True, text=True)
    assert "experiments: AB" in first.stdout
    # The second run is given both directories: it writes day 1 only.
    second = botify.export_parquet([day0, day1], out, append=True)
    assert second["rows"].sum() == len(botify.read_log(day1))
    assert second.attrs["read"]["experiments"] == ["XY"]
    assert list(second["day"]) == ["2026-01-02"]
    total = len(botify.read_log(day0)) + len(botify.read_log(day1))
    con = duckdb.connect()
    glob = f"{out}/*/*.parquet"
    assert con.execute(f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning = true)"
                       ).fetchone()[0] == total
    per_day = con.execute(
        f"SELECT day::VARCHAR, count(*) FILTER (WHERE experiments['AB'] IS NOT NULL), "
        f"count(*) FILTER (WHERE experiments['XY'] IS NOT NULL) "
        f"FROM read_parquet('{glob}', hive_partitioning = true) GROUP BY day ORDER BY day").fetchall()
    assert [d for d, _, _ in per_day] == ["2026-01-01", "2026-01-02"]
    assert per_day[0][2] == 0 and per_day[1][1] == 0
    # Each experiment's A/B table from the one warehouse equals `botify ab` on its own log.
    assert_same_table(example().ab_table(str(out), "AB"), botify.ab(day0, "AB", correction="none"))
    assert_same_table(example().ab_table(str(out), "XY"), botify.ab(day1, "XY", correction="none"))
    # Nothing new: nothing written.
    again = botify.export_parquet([day0, day1], out, append=True)
    assert len(again) == 0 and again.attrs["read"]["events"] == 0
