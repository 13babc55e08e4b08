"""The container recipe and compose file of deploy/: the compose file is well formed, mounts
files that exist, and every botify command in it runs with the real CLI (paths moved to a
temporary directory). Docker itself is not run here (no daemon, no image registry)."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT

yaml = pytest.importorskip("yaml")
DEPLOY = ROOT / "deploy"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def compose():
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_file_names_every_part_and_mounts_what_exists():
    c = compose()
    services = c["services"]
    assert {"redis", "world", "botify-1", "botify-2", "botify-3", "haproxy", "prometheus",
            "grafana"} <= set(services)
    for name, svc in services.items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which is missing"
    # HAProxy's addresses name the replicas; Prometheus scrapes the same ones.
    env = services["haproxy"]["environment"]
    replicas = {env[f"BOTIFY_REPLICA_{i}"] for i in (1, 2, 3)}
    assert replicas == {f"botify-{i}:5001" for i in (1, 2, 3)}
    scraped = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert set(scraped["scrape_configs"][0]["static_configs"][0]["targets"]) == replicas
    # The image recipe builds the binary from this checkout.
    build = services["botify-1"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "cargo build --release --locked -p botify-cli" in dockerfile


def test_every_botify_command_of_the_compose_file_runs(cli, tmp_path):
    services = compose()["services"]
    data = tmp_path / "data"
    data.mkdir()
    # The world service: a shell line around `botify world generate`.
    line = services["world"]["command"][0].replace("/data", str(data))
    subprocess.run(["sh", "-c", line.replace("botify ", f"{cli} ")], check=True,
                   capture_output=True)
    assert (data / "world" / "tracks.json").is_file()
    # Run twice: the world is kept, not regenerated.
    before = (data / "world" / "tracks.json").stat().st_mtime_ns
    subprocess.run(["sh", "-c", line.replace("botify ", f"{cli} ")], check=True)
    assert (data / "world" / "tracks.json").stat().st_mtime_ns == before
    # A replica's command (without Redis, whose URL the environment gives in compose), with
    # the image's entry point flags, on a free port of loopback.
    args = [a.replace("/data", str(data)) for a in services["botify-1"]["command"]]
    port = free_port()
    args[args.index("--port") + 1] = str(port)
    args[args.index("--host") + 1] = "127.0.0.1"
    proc = subprocess.Popen([cli, "--log-format", "json", *args], stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.time() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read()
                assert time.time() < deadline, "the replica never answered"
                time.sleep(0.05)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert '"level":"INFO"' in err, err
    assert (data / "log" / "replica-1").is_dir()


def test_the_grafana_dashboard_loads_in_grafanas_own_model():
    """deploy/grafana/dashboards/botify.json read by Grafana's Foundation SDK (Grafana Labs'
    typed model of dashboards): every panel with its Prometheus queries, unchanged when written
    back. (Grafana itself is not run here; tests/monitoring.rs runs every query in Prometheus.)"""
    import json

    sdk = pytest.importorskip("grafana_foundation_sdk")
    from grafana_foundation_sdk.cog import encoder, plugins
    from grafana_foundation_sdk.models import dashboard, prometheus

    # The datasource plugins' query models (Prometheus's among them), as Grafana registers them.
    plugins.register_default_plugins()
    raw = json.loads((DEPLOY / "grafana" / "dashboards" / "botify.json").read_text())
    model = dashboard.Dashboard.from_json(raw)
    assert sdk and model.uid == "botify" and model.title == "Botify"
    assert len(model.panels) == len(raw["panels"]) >= 10
    for panel, source in zip(model.panels, raw["panels"]):
        assert isinstance(panel, dashboard.Panel), panel
        assert panel.type_val in {"timeseries", "stat"} and panel.datasource.uid == "prometheus"
        assert panel.grid_pos.w == source["gridPos"]["w"] and panel.title == source["title"]
        assert [type(t) for t in panel.targets] == [prometheus.Dataquery] * len(source["targets"])
        assert [t.expr for t in panel.targets] == [t["expr"] for t in source["targets"]]
    written = json.loads(encoder.JSONEncoder().encode(model))
    assert [t["expr"] for p in written["panels"] for t in p["targets"]] == \
        [t["expr"] for p in raw["panels"] for t in p["targets"]]
    # The provisioning points Grafana at the dashboard and at the datasource the panels name.
    datasource = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" /
                                 "prometheus.yml").read_text())
    assert datasource["datasources"][0]["uid"] == "prometheus"
