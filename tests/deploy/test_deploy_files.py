"""The operations files under deploy/, checked by the tools that will read them in production.

promtool (Debian's `prometheus` package) checks and unit-tests the Prometheus files;
systemd-analyze checks the units and scores the server's sandbox; every metric the alerts and
dashboards query must be one the app serves, and the app is asked for its `/metrics`.
"""

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus

from server.app import create_app
from server.settings import PROFILE_DEFAULTS, Settings
from tests.doubles.embedder import fake_embedder
from tests.support import fake_models, serving

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
ALERT_TESTS = Path(__file__).parent / "alerts_test.yml"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
UNITS = sorted((DEPLOY / "systemd").glob("orca*"))
RUNBOOK = ROOT / "docs" / "operations.md"

Family = tuple[str, frozenset[str]]
"""A metric family's type and label names."""


def family(kind: str, *labels: str) -> Family:
    return kind, frozenset(labels)


# The families the app serves at /metrics (server/observability/metrics.py), with their
# types and labels. Counters are named as PromQL sees them, with `_total`.
EXPORTED_FAMILIES: dict[str, Family] = {
    "orca_build_info": family("gauge", "version"),
    "orca_http_requests_total": family("counter", "route", "method", "status"),
    "orca_http_request_duration_seconds": family("histogram", "route", "method"),
    "orca_workflow_runs_total": family("counter", "workflow", "surface", "outcome"),
    "orca_workflow_run_duration_seconds": family("histogram", "workflow", "surface"),
    "orca_node_duration_seconds": family("histogram", "workflow", "node"),
    "orca_model_calls_total": family("counter", "alias", "provider", "outcome"),
    "orca_model_call_duration_seconds": family("histogram", "alias", "provider"),
    "orca_model_tokens_total": family("counter", "alias", "provider", "direction"),
    "orca_embedding_inputs_total": family("counter", "model"),
    "orca_embedding_cache_total": family("counter", "layer", "result"),
    "orca_run_slots": family("gauge", "state"),
    "orca_runs_queued": family("gauge"),
    "orca_run_events_unstored": family("gauge"),
    "orca_run_events_lost_total": family("counter"),
    "orca_embedding_batch_size": family("histogram", "model"),
    "orca_embedding_queue_depth": family("gauge", "model"),
    "orca_circuit_state": family("gauge", "upstream"),
    "orca_upstream_retries_total": family("counter", "upstream"),
    "orca_db_pool_connections": family("gauge", "pool", "state"),
    "orca_active_streams": family("gauge", "surface"),
}
# Written by `orca eval --prom-file` for node_exporter's textfile collector, never served
# by the app: allowed in queries, left out of the live check.
TEXTFILE_FAMILIES: dict[str, Family] = {
    "orca_eval_score": family("gauge", "dataset", "metric"),
    "orca_eval_floor": family("gauge", "dataset", "metric"),
}
# Added by Prometheus to every scraped series, and the histogram bucket bound.
SCRAPE_LABELS = frozenset({"job", "instance", "le"})

METRIC_NAME = re.compile(r"\borca_[a-z_]+\b")
SELECTOR = re.compile(r'\b(orca_[a-z_]+)\{((?:[^}"]|"(?:[^"\\]|\\.)*")*)\}')
MATCHER = re.compile(r'(\w+)\s*(?:=~|!~|!=|=)\s*"')
GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")
TEMPLATE_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}|\$labels\.(\w+)")
REQUIRED_ALERTS = {
    "OrcaDown",
    "OrcaHighErrorRatio",
    "OrcaHighLatencyP99",
    "OrcaCircuitOpen",
    "OrcaDbPoolExhausted",
    "OrcaEvalRegression",
    "OrcaWorkflowErrors",
    "OrcaModelErrors",
}


def series_labels(families: dict[str, Family]) -> dict[str, frozenset[str]]:
    """Map each name PromQL can select, as prometheus-client names it, to its labels.

    A histogram is only its `_bucket`, `_sum` and `_count` series; a counter or gauge is its
    own name. So `orca_http_requests` (no `_total`) or `orca_circuit_state_bucket` is refused.
    """
    names: dict[str, frozenset[str]] = {}
    for name, (kind, labels) in families.items():
        suffixes = ("_bucket", "_sum", "_count") if kind == "histogram" else ("",)
        for suffix in suffixes:
            names[name + suffix] = labels | SCRAPE_LABELS
    return names


ALLOWED_SERIES = series_labels(EXPORTED_FAMILIES | TEXTFILE_FAMILIES)


def unknown_names(expr: str) -> set[str]:
    """Return the `orca_*` names in an expression that no family provides."""
    return set(METRIC_NAME.findall(expr)) - set(ALLOWED_SERIES)


def unknown_labels(expr: str, templates: str = "") -> set[str]:
    """Return label names that the expression's families do not have.

    Checked: matchers in `orca_*{...}` selectors against that family, and labels in
    `by/without/on/ignoring (...)` and in `templates` (Grafana `{{label}}` legends, alert
    `$labels.x`) against the expression's families together.
    """
    unknown: set[str] = set()
    for name, matchers in SELECTOR.findall(expr):
        unknown |= set(MATCHER.findall(matchers)) - ALLOWED_SERIES.get(name, frozenset())
    known = set(SCRAPE_LABELS)
    for name in METRIC_NAME.findall(expr):
        known |= ALLOWED_SERIES.get(name, frozenset())
    used = {label.strip() for group in GROUPING.findall(expr) for label in group.split(",")}
    used |= {a or b for a, b in TEMPLATE_LABEL.findall(templates)}
    return unknown | (used - known - {""})


def require(tool: str, package: str) -> str:
    """Return the tool's path; fail (never skip) naming the Debian package that provides it."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed: apt-get install {package} (.ci/services)")
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """Every query a dashboard sends, with the labels its legend or variable shows.

    Panel targets give `(expr, legendFormat)`; a `label_values(selector, label)` variable
    gives `(selector, "{{label}}")`.
    """
    queries = [
        (target["expr"], target.get("legendFormat", ""))
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            query = query["query"] if isinstance(query, dict) else query
            wrapped = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query)
            queries.append((wrapped[1], f"{{{{{wrapped[2]}}}}}") if wrapped else (query, ""))
    return queries


def load_dashboards() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in DASHBOARDS:
        yield path.name, json.loads(path.read_text())


def as_plain_promql(query: str) -> str:
    """Turn a Grafana query into PromQL by filling in its variables."""
    query = query.replace("$__rate_interval", "5m").replace("$__interval", "1m")
    return re.sub(r"\$\{?\w+\}?", ".*", query)


# --- Prometheus ---------------------------------------------------------------------------


def test_alert_rules_pass_promtool() -> None:
    promtool = require("promtool", "prometheus")
    result = run(promtool, "check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_config_passes_promtool_and_scrapes_the_service() -> None:
    promtool = require("promtool", "prometheus")
    result = run(promtool, "check", "config", str(PROMETHEUS_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert config["rule_files"] == ["alerts.yml"]
    job = next(job for job in config["scrape_configs"] if job["job_name"] == "citadel-orca")
    assert job["metrics_path"] == "/metrics"
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    assert targets and all(target.endswith(":8000") for target in targets)


def test_alerts_fire_on_what_they_describe_and_stay_quiet_otherwise() -> None:
    # tests/deploy/alerts_test.yml feeds series to each rule and lists the alerts expected.
    promtool = require("promtool", "prometheus")
    result = run(promtool, "test", "rules", str(ALERT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_labelled_annotated_and_in_the_runbook() -> None:
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} >= REQUIRED_ALERTS
    headings = {
        line.removeprefix("### ").strip().lower()
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("### ")
    }
    for rule in rules:
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        assert rule["annotations"]["runbook"] == f"docs/operations.md#{name.lower()}"
        assert name.lower() in headings, f"docs/operations.md has no '### {name}' section"


def test_alerts_query_only_metrics_and_labels_the_app_exports() -> None:
    for rule in alert_rules():
        name, expr = rule["alert"], rule["expr"]
        assert not unknown_names(expr), f"{name} queries {sorted(unknown_names(expr))}"
        shown = rule["annotations"]["summary"] + rule["annotations"]["description"]
        assert not unknown_labels(expr, shown), f"{name} uses {unknown_labels(expr, shown)}"


# --- Grafana ------------------------------------------------------------------------------


def test_dashboards_query_only_metrics_and_labels_the_app_exports() -> None:
    assert {name for name, _ in load_dashboards()} == {
        "overview.json",
        "models.json",
        "embeddings.json",
    }
    for name, dashboard in load_dashboards():
        for expr, legend in dashboard_queries(dashboard):
            assert not unknown_names(expr), f"{name}: {expr} queries {unknown_names(expr)}"
            labels = unknown_labels(expr, legend)
            assert not labels, f"{name}: {expr} ({legend}) uses labels {labels}"


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    # promtool parses every expression of a rules file, so each dashboard query becomes a
    # recording rule (variables filled in) and the file is checked.
    promtool = require("promtool", "prometheus")
    rules = [
        {"record": f"dashboard:query:{index}", "expr": as_plain_promql(expr)}
        for index, (expr, _) in enumerate(
            query for _, dashboard in load_dashboards() for query in dashboard_queries(dashboard)
        )
    ]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboards_use_the_provisioned_datasource_through_a_variable() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    datasource = yaml.safe_load((provisioning / "datasources" / "orca.yml").read_text())
    (prometheus,) = datasource["datasources"]
    assert prometheus["type"] == "prometheus"
    assert prometheus["url"] == PROFILE_DEFAULTS["production"]["prometheus_url"]
    providers = yaml.safe_load((provisioning / "dashboards" / "orca.yml").read_text())
    assert providers["providers"][0]["type"] == "file"

    uids = set()
    for name, dashboard in load_dashboards():
        assert dashboard["schemaVersion"] >= 39, name
        uids.add(dashboard["uid"])
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        ds_variable = variables["DS_PROMETHEUS"]
        assert ds_variable["type"] == "datasource" and ds_variable["query"] == "prometheus"
        assert ds_variable["current"]["value"] == prometheus["uid"], name
        panel_ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(panel_ids) == len(set(panel_ids)), f"{name}: duplicate panel ids"
        for panel in dashboard["panels"]:
            where = f"{name}: {panel['title']}"
            assert panel["type"] in {"timeseries", "stat"}, where
            assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, where
            assert panel["targets"], where
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, where
    assert len(uids) == len(DASHBOARDS)


# --- systemd ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def unit_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory tree for `systemd-analyze --root`: the units as installed, and what they use.

    `systemd-analyze verify` refuses a unit whose ExecStart binary is missing, and loads the
    units every service depends on by default (sysinit.target, basic.target, ...). Rewriting
    ExecStart to /bin/true would verify a different file than the one shipped; instead `--root`
    points both look-ups into this tree: the units unchanged under /etc/systemd/system,
    executable stand-ins at the real ExecStart paths (/opt/citadel-orca/...), and a copy of
    this host's systemd units (/usr/lib/systemd/system).
    """
    root = tmp_path_factory.mktemp("unit-root")
    host_units = Path("/usr/lib/systemd/system")
    if not host_units.is_dir():
        host_units = Path("/lib/systemd/system")
    shutil.copytree(host_units, root / "usr/lib/systemd/system", symlinks=True)
    installed = root / "etc/systemd/system"
    installed.mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(unit, installed / unit.name)
        for line in unit.read_text().splitlines():
            if line.startswith("ExecStart="):
                binary = root / line.removeprefix("ExecStart=").lstrip("-@:+!").split()[0][1:]
                binary.parent.mkdir(parents=True, exist_ok=True)
                binary.write_text("#!/bin/sh\nexit 0\n")
                binary.chmod(0o755)
    return root


def test_units_pass_systemd_analyze_verify(unit_root: Path) -> None:
    assert {unit.name for unit in UNITS} == {
        "orca.service",
        "orca-worker.service",
        "orca-backup.service",
        "orca-backup.timer",
        "orca-prune.service",
        "orca-prune.timer",
    }
    result = run(
        require("systemd-analyze", "systemd"),
        "verify",
        "--man=no",
        f"--root={unit_root}",
        *(unit.name for unit in UNITS),
    )
    # Unknown keys and unparsable values are printed but do not change the exit status.
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr
    )


@pytest.mark.parametrize(
    ("unit", "most"),
    [
        ("orca.service", 2.0),
        ("orca-worker.service", 2.0),
        ("orca-backup.service", 4.0),
        ("orca-prune.service", 4.0),
    ],
)
def test_services_are_sandboxed(unit_root: Path, unit: str, most: float) -> None:
    # systemd's exposure score runs from 0 (locked down) to 10 (no sandbox); the server
    # scored 1.2 when written, a service with no hardening scores 9.6.
    systemd_analyze = require("systemd-analyze", "systemd")
    result = run(
        systemd_analyze, "security", "--man=no", "--offline=yes", f"--root={unit_root}", unit
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= most, result.stdout


# --- The environment file -----------------------------------------------------------------


def env_names(path: Path) -> set[str]:
    return set(re.findall(r"^#?\s*(ORCA_[A-Z0-9_]+)=", path.read_text(), re.MULTILINE))


def test_env_template_names_every_setting_and_loads_as_production() -> None:
    template = DEPLOY / "orca.env.example"
    assert env_names(template) == env_names(ROOT / ".env.example")
    for line in template.read_text().splitlines():
        # systemd's EnvironmentFile= takes `KEY=value` lines; a `#` after a value is part of it.
        if line and not line.startswith("#"):
            assert re.fullmatch(r"ORCA_[A-Z0-9_]+=[^#\s]*", line), line
    settings = Settings(_env_file=template)  # type: ignore[call-arg]
    assert settings.profile == "production"
    assert str(settings.data_dir) == "/var/lib/citadel-orca"
    assert settings.postgres_url is not None and settings.qdrant_url is not None
    assert settings.chat_provider == "openai" and settings.embedding_provider == "ollama"


# --- The running app ----------------------------------------------------------------------


async def test_the_app_serves_every_family_the_alerts_and_dashboards_use(tmp_path: Path) -> None:
    # Fails until server/observability/metrics.py is wired into the app and /metrics exists.
    app = create_app(
        Settings(data_dir=tmp_path / "var"), models=fake_models(), embedder=fake_embedder()
    )
    async with serving(app) as client:
        assert (await client.get("/health")).status_code == 200
        embedded = await client.post("/v1/embeddings", json={"model": "embed-01", "input": "x"})
        assert embedded.status_code == 200, embedded.text
        response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    parse = (
        parse_openmetrics
        if response.headers.get("content-type", "").startswith("application/openmetrics-text")
        else parse_prometheus
    )
    served: dict[str, Family] = {}
    for metric in parse(response.text):
        labels = {key for sample in metric.samples for key in sample.labels} - {"le"}
        name = metric.name + ("_total" if metric.type == "counter" else "")
        served[name] = (metric.type, frozenset(labels))
    for name, (kind, labels) in EXPORTED_FAMILIES.items():
        assert name in served, f"/metrics lacks {name}; it serves {sorted(served)}"
        served_kind, served_labels = served[name]
        assert served_kind == kind, f"{name} is a {served_kind}, not a {kind}"
        # A family with no series yet shows no labels; the app pre-creates almost all.
        assert served_labels in (labels, frozenset()), f"{name} has labels {served_labels}"
    assert not set(TEXTFILE_FAMILIES) & set(served), "eval gauges belong to the textfile"
