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


def test_parquet_export_gives_the_ab_table_in_sql(world, tmp_path, cli):
    log = tmp_path / "log"
    botify.simulate(world, {"C": "sticky_artist", "T1": "random", "T2": "random"},
                    episodes=3_000, seed=11, log_dir=log, experiment="AB")
    out = tmp_path / "pq"
    files = botify.export_parquet(log, out)
    events = botify.read_log(log)
    assert files["rows"].sum() == len(events)
    assert files.attrs["read"]["experiments"] == ["AB"]

    # Typed columns, the experiment as a column of its own, days as Hive partitions.
    con = duckdb.connect()
    described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{out}/*/*.parquet', "
                        "hive_partitioning = true)").fetchall()
    schema = {row[0]: row[1] for row in described}
    assert schema["timestamp"].startswith("TIMESTAMP")
    assert schema["user"] == "BIGINT" and schema["time"] == "FLOAT"
    assert schema["latency"] == "DOUBLE" and schema["experiment_AB"] == "VARCHAR"
    assert "day" in schema
    nulls, lasts = con.execute(f"SELECT count(*) FILTER (WHERE recommendation IS NULL), "
                           f"count(*) FILTER (WHERE message = 'last') "
                           f"FROM read_parquet('{out}/*/*.parquet')").fetchone()
    assert nulls == lasts == (events["message"] == "last").sum()

    sql = example().ab_table(str(out), "AB")
    native = botify.ab(log, "AB", correction="none")
    merged = sql.merge(native, on=["treatment", "metric"], suffixes=("_sql", ""))
    assert len(merged) == len(native) == 10
    for col in ["control_mean", "treatment_mean", "effect", "lower", "upper", "p_value",
                "control_users", "treatment_users"]:
        diff = (merged[f"{col}_sql"] - merged[col]).abs()
        scale = merged[col].abs().clip(lower=1e-9)
        assert (diff / scale).max() < 1e-6, (col, merged[[f"{col}_sql", col]])

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
