"""The A/B table of an experiment in SQL, from the Parquet files `botify log export` writes.

    botify log export --out warehouse/ log-replica-1/ log-replica-2/
    python examples/python/duckdb_ab.py warehouse/ AB

Needs `pip install duckdb scipy` (DuckDB 1.2 or later, where `map['key']` is the value). The same numbers as `botify ab --experiment AB` (delta-method
interval, Welch degrees of freedom; unadjusted p-values): tests/test_warehouse.py checks it.
"""

from __future__ import annotations

import sys

import duckdb
import pandas as pd
from scipy import stats

# Per user, as SPEC §6 defines them: a user's arm is the treatment of their earliest event; their
# sessions are the runs of events ending with a `last`, so events after their latest `last`
# (an unfinished session) are dropped.
USERS = """
WITH e AS (
    SELECT "user", timestamp, message, time, latency, experiments['{exp}'] AS treatment
    FROM read_parquet('{root}/*/*.parquet', hive_partitioning = true)
    WHERE experiments['{exp}'] IS NOT NULL
),
u AS (
    SELECT "user", arg_min(treatment, timestamp) AS treatment,
           max(timestamp) FILTER (WHERE message = 'last') AS end_ts
    FROM e GROUP BY "user"
)
SELECT "user", u.treatment,
       count(*) FILTER (WHERE message = 'last') AS sessions,
       count(*) AS tracks,
       sum(time::DOUBLE) AS time,
       avg(latency) * 1000 AS mean_request_latency
FROM e JOIN u USING ("user")
WHERE e.timestamp <= u.end_ts
GROUP BY ALL
"""

# Per (treatment, metric) against control C: the effect in % of the control mean, the
# delta-method standard error of the ratio of means, and Welch's degrees of freedom.
TABLE = """
WITH m AS (
    UNPIVOT (
        SELECT treatment, time, sessions::DOUBLE AS sessions, mean_request_latency,
               tracks / sessions AS mean_tracks_per_session,
               time / sessions AS mean_time_per_session
        FROM users
    )
    ON time, sessions, mean_request_latency, mean_tracks_per_session, mean_time_per_session
    INTO NAME metric VALUE value
),
arm AS (
    SELECT treatment, metric, count(*) AS n, avg(value) AS mean, var_samp(value) AS var
    FROM m GROUP BY ALL
)
SELECT t.treatment, t.metric, c.mean AS control_mean, t.mean AS treatment_mean,
       100 * (t.mean / c.mean - 1) AS effect,
       100 * sqrt(t.var / (t.n * c.mean ^ 2) + t.mean ^ 2 * c.var / (c.n * c.mean ^ 4)) AS se,
       (t.mean - c.mean) / sqrt(c.var / c.n + t.var / t.n) AS t_stat,
       (c.var / c.n + t.var / t.n) ^ 2
           / ((c.var / c.n) ^ 2 / (c.n - 1) + (t.var / t.n) ^ 2 / (t.n - 1)) AS df,
       c.n AS control_users, t.n AS treatment_users
FROM arm t JOIN arm c ON c.metric = t.metric AND c.treatment = 'C'
WHERE t.treatment <> 'C'
ORDER BY t.treatment, t.metric
"""


def ab_table(root: str, experiment: str, confidence: float = 0.95) -> pd.DataFrame:
    """The A/B table of `experiment` from the Parquet files under `root`."""
    con = duckdb.connect()
    users = con.execute(USERS.format(root=root, exp=experiment)).df()
    con.register("users", users)
    table = con.execute(TABLE).df()
    # SQL has no Student t quantile: the interval and p-value come from scipy.
    half = stats.t.ppf(0.5 + confidence / 2, table["df"]) * table["se"]
    table["lower"] = table["effect"] - half
    table["upper"] = table["effect"] + half
    table["p_value"] = 2 * stats.t.sf(table["t_stat"].abs(), table["df"])
    return table.drop(columns=["se", "t_stat", "df"])


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: duckdb_ab.py PARQUET_DIR EXPERIMENT")
    print(ab_table(sys.argv[1], sys.argv[2]).to_string(index=False))
