"""deploy/ holds together: the compose file, the Kubernetes manifests and the Ray cluster
config name the same image; the cluster config passes Ray's own validation; the Dockerfile
builds in stages and runs unprivileged; every query of the Grafana dashboards and every
alert rule names a metric raytrader exports, and promtool accepts the rules, the queries and
the Prometheus config."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.obs.metrics import CATALOG

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
IMAGE = "raytrader:0.1.0"
_NAME = re.compile(r"\b(raytrader_[a-z0-9_]+|up)\b")


def exported(name: str) -> bool:
    """Whether ``name`` is a series raytrader exports (histograms: with their suffixes)."""
    if name in CATALOG or name == "up":
        return True
    for suffix in ("_bucket", "_count", "_sum"):
        base = name.removesuffix(suffix)
        if base != name and CATALOG.get(base) is not None and CATALOG[base].kind == "histogram":
            return True
    return False


def dashboard_queries() -> dict[str, list[str]]:
    out = {}
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        out[path.name] = [t["expr"] for p in board["panels"] for t in p["targets"]]
    return out


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_every_dashboard_query_names_an_exported_metric() -> None:
    queries = dashboard_queries()
    assert set(queries) == {"backtest.json", "live.json"}
    for board, exprs in queries.items():
        assert len(exprs) >= 12, board
        for expr in exprs:
            names = _NAME.findall(expr)
            assert names, f"{board}: {expr!r} names no metric"
            unknown = [n for n in names if not exported(n)]
            assert not unknown, f"{board}: {expr!r} names {unknown}, which raytrader does " \
                                f"not export"


def test_the_check_itself_catches_a_metric_nobody_exports() -> None:
    assert not exported("raytrader_equity_usd") and not exported("raytrader_events_bucket")
    assert exported("raytrader_batch_seconds_bucket") and exported("raytrader_events_total")


def test_the_dashboards_are_what_their_script_writes(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_dashboards", DEPLOY / "grafana" / "make_dashboards.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.HERE = tmp_path
    module.main()
    for name in ("backtest.json", "live.json"):
        assert (tmp_path / name).read_text() == \
            (DEPLOY / "grafana" / "dashboards" / name).read_text(), \
            f"{name} is stale: run python deploy/grafana/make_dashboards.py"


def test_the_dashboards_use_the_provisioned_datasource() -> None:
    source = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" /
                             "prometheus.yml").read_text())["datasources"][0]
    for path in (DEPLOY / "grafana" / "dashboards").glob("*.json"):
        board = json.loads(path.read_text())
        uids = {t["datasource"]["uid"] for p in board["panels"] for t in p["targets"]}
        assert uids == {source["uid"]}
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" /
                               "raytrader.yml").read_text())["providers"][0]
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts


def test_every_alert_rule_names_an_exported_metric() -> None:
    rules = alert_rules()
    names = {r["alert"] for r in rules}
    assert {"RaytraderGraphDown", "RaytraderWatermarkStalled", "RaytraderDailyLossNearLimit",
            "RaytraderKillSwitch", "RaytraderExchangeErrors"} <= names
    for rule in rules:
        found = _NAME.findall(rule["expr"])
        assert found and all(exported(n) for n in found), rule


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    return found


def test_promtool_accepts_the_alert_rules() -> None:
    done = subprocess.run([promtool(), "check", "rules", str(DEPLOY / "prometheus" /
                                                            "alerts.yml")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in done.stdout


def test_promtool_accepts_every_dashboard_query(tmp_path: Path) -> None:
    """Each query as a recording rule: promtool parses its PromQL (Grafana's
    ``$__rate_interval`` read as 1m)."""
    rules = [{"record": f"raytrader:dashboard_query_{i}",
              "expr": expr.replace("$__rate_interval", "1m")}
             for i, expr in enumerate(e for exprs in dashboard_queries().values()
                                      for e in exprs)]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    done = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_accepts_the_prometheus_config(tmp_path: Path) -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    shutil.copy(DEPLOY / "prometheus" / "alerts.yml", tmp_path / "alerts.yml")
    config["rule_files"] = [str(tmp_path / "alerts.yml")]   # where the container mounts it
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run([promtool(), "check", "config", str(path)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert {"raytrader", "raytrader-files", "ray"} <= jobs


def kubernetes_documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((DEPLOY / "kuberay").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def images(node: Any) -> list[str]:
    """Every ``image:`` value anywhere under ``node``."""
    if isinstance(node, dict):
        found = [node["image"]] if isinstance(node.get("image"), str) else []
        return found + [i for v in node.values() for i in images(v)]
    if isinstance(node, list):
        return [i for v in node for i in images(v)]
    return []


def test_compose_kubernetes_and_the_ray_cluster_run_the_same_image() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert compose["services"]["raytrader"]["image"] == IMAGE
    assert compose["services"]["raytrader"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert {"raytrader", "prometheus", "grafana"} <= set(compose["services"])
    for service in compose["services"].values():   # published on loopback only
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), port
    docs = kubernetes_documents()
    kinds = {d["kind"] for d in docs}
    assert {"RayCluster", "RayJob", "Service"} <= kinds
    for doc in docs:
        if doc["kind"] in ("RayCluster", "RayJob"):
            assert doc["apiVersion"] == "ray.io/v1"
            found = images(doc["spec"])
            assert found and set(found) == {IMAGE}, (doc["metadata"]["name"], found)
    cluster = yaml.safe_load((DEPLOY / "ray" / "cluster.yaml").read_text())
    assert cluster["docker"]["image"] == IMAGE


def test_the_kubernetes_pods_run_unprivileged_and_the_api_needs_its_token() -> None:
    for doc in kubernetes_documents():
        if doc["kind"] not in ("RayCluster", "RayJob"):
            continue
        spec = doc["spec"].get("rayClusterSpec", doc["spec"])
        templates = [spec["headGroupSpec"]["template"]] + \
            [g["template"] for g in spec["workerGroupSpecs"]]
        for template in templates:
            assert template["spec"]["securityContext"]["runAsNonRoot"] is True
    cluster = next(d for d in kubernetes_documents() if d["kind"] == "RayCluster")
    api = next(c for c in cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"]
               if c["name"] == "api")
    token = next(e for e in api["env"] if e["name"] == "RAYTRADER_API_TOKEN")
    assert "secretKeyRef" in token["valueFrom"]


def test_the_ray_cluster_config_passes_rays_validation() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = yaml.safe_load((DEPLOY / "ray" / "cluster.yaml").read_text())
    config = prepare_config(raw)
    validate_config(config)
    assert config["head_node_type"] in config["available_node_types"]
    # and the validation is not a formality: a misspelled field fails it
    import jsonschema

    with pytest.raises(jsonschema.ValidationError):
        validate_config(prepare_config({**raw, "max_worker": 3}))


def test_the_dockerfile_builds_in_stages_and_runs_unprivileged() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.MULTILINE)
    assert len(stages) >= 2
    assert re.search(r"^COPY --from=build ", text, re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r'^ENTRYPOINT \["raytrader"\]', text, re.MULTILINE)
    # what the image copies exists, and pyproject names what it installs
    for source in re.findall(r"^COPY (?!--)(\S+)", text, re.MULTILINE):
        assert (ROOT / source).exists(), source
