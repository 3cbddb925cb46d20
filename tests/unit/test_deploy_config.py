"""Checks on the at-scale deployment (docker-compose.yml, Dockerfile, Prometheus, Grafana).

Nothing here needs a Docker engine, Kafka or Neo4j: the files are parsed and cross-checked against
each other and against the code (metric names from groundswell.metrics). The one test that runs
`docker compose config` is skipped only where the compose CLI plugin is not installed.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.app import create_api
from groundswell.metrics import Metrics
from groundswell.settings import Settings
from sources.live.base import SourceMetrics

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PROMETHEUS_FILE = ROOT / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
DASHBOARD_FILE = GRAFANA_DIR / "dashboards" / "groundswell.json"
DATASOURCES_DIR = GRAFANA_DIR / "provisioning" / "datasources"
DASHBOARD_PROVIDERS_DIR = GRAFANA_DIR / "provisioning" / "dashboards"

# The pipeline's topics (DESIGN.md, "Data flow"); kafka-init creates exactly these.
PIPELINE_TOPICS = {
    "social.raw",
    "social.activity",
    "social.deadletter",
    "identity.links",
    "scores.influence",
    "scores.priority",
    "crm.alerts",
}
PARTITIONS = 4

# The settings the processes read (env prefix GROUNDSWELL_); a typo here would be silently ignored
# by the settings loader and the process would fall back to the embedded broker / graph store.
KNOWN_SETTINGS = {f"GROUNDSWELL_{name.upper()}" for name in Settings.model_fields}
DEFAULT_API_PORT = 8000
DEFAULT_WORKER_METRICS_PORT = 9108

# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------


def _load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = _load_yaml(COMPOSE_FILE)
    assert isinstance(data, dict), "docker-compose.yml must be a mapping"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    svcs = compose.get("services")
    assert isinstance(svcs, dict), "docker-compose.yml has no services"
    assert svcs, "docker-compose.yml has no services"
    return svcs


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    with DASHBOARD_FILE.open(encoding="utf-8") as fh:
        data = json.load(fh)
    assert isinstance(data, dict)
    return data


def _is_project_service(svc: dict[str, Any]) -> bool:
    return "build" in svc or str(svc.get("image", "")).startswith("groundswell")


def _project_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found = {name: svc for name, svc in services.items() if _is_project_service(svc)}
    assert found, "no service builds the project image"
    return found


def _environment(svc: dict[str, Any]) -> dict[str, str | None]:
    env = svc.get("environment") or {}
    if isinstance(env, dict):
        return {str(k): None if v is None else str(v) for k, v in env.items()}
    out: dict[str, str | None] = {}
    for item in env:
        key, sep, value = str(item).partition("=")
        out[key] = value if sep else None
    return out


def _depends_on(svc: dict[str, Any]) -> dict[str, str]:
    """depends_on as {service: condition}, from either the short (list) or the long form."""
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        return {str(name): "service_started" for name in deps}
    return {str(name): str((spec or {}).get("condition", "service_started")) for name, spec in deps.items()}


def _command_text(svc: dict[str, Any]) -> str:
    cmd = svc.get("command", "")
    return " ".join(str(part) for part in cmd) if isinstance(cmd, list) else str(cmd)


def _command_words(svc: dict[str, Any]) -> list[str]:
    cmd = svc.get("command", "")
    return [str(part) for part in cmd] if isinstance(cmd, list) else shlex.split(str(cmd))


def _image_tag(image: str) -> str | None:
    """The tag of an image reference, or None when it has none (ignoring a registry's :port)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def _published_container_ports(svc: dict[str, Any]) -> set[int]:
    ports: set[int] = set()
    for spec in svc.get("ports") or []:
        if isinstance(spec, dict):
            ports.add(int(spec["target"]))
        else:
            ports.add(int(str(spec).split("/", 1)[0].rsplit(":", 1)[-1]))
    return ports


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _yaml_files(directory: Path) -> list[Path]:
    return sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])


# ----------------------------------------------------------------------------------------------
# metric names: what the code exports, what PromQL mentions
# ----------------------------------------------------------------------------------------------


def exported_series_by_family() -> dict[str, set[str]]:
    """Every series name groundswell.metrics exports, grouped by metric family.

    Counters are exposed with `_total` (and `_created`), histograms as `_bucket`, `_sum`, `_count`
    (and `_created`); labelled metrics have no samples until used, so derive from the type.
    """
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
        "gauge": ("",),
        "info": ("_info",),
    }
    families: dict[str, set[str]] = {}
    for family in all_metric_families():
        names = {family.name + suffix for suffix in suffixes.get(family.type, ("",))}
        names.update(sample.name for sample in family.samples)
        families[family.name] = names
    return families


def all_metric_families() -> list[Any]:
    """Every metric a Groundswell process exports: the shared set, the API's and the live sources'."""
    metrics = Metrics.create()
    create_api(Settings(), metrics)
    SourceMetrics.create(metrics.registry)
    return list(metrics.registry.collect())


_PROMQL_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "offset", "bool", "inf", "nan", "atan2",
}  # fmt: skip
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.])[A-Za-z_:][\w:]*")
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*)\)\s*$", re.DOTALL)


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression (with Grafana variables) selects."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)  # string literals
    s = re.sub(r"\$\{[^}]*\}|\$\w+", "", s)  # Grafana variables ($__rate_interval, ${stage})
    s = re.sub(r"\{[^}]*\}", "", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", "", s)  # ranges and subqueries
    s = _GROUPING.sub("", s)  # by (...), on (...), group_left (...)
    names: set[str] = set()
    for match in _IDENTIFIER.finditer(s):
        word = match.group(0)
        if s[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation operator
        if word.lower() in _PROMQL_KEYWORDS:
            continue
        names.add(word)
    return names


def grafana_query_metric_names(query: str) -> set[str]:
    """Like promql_metric_names, also for Grafana's `label_values(metric, label)` variable queries."""
    match = _LABEL_VALUES.match(query)
    if match is None:
        return promql_metric_names(query)
    selector, sep, _label = match.group(1).rpartition(",")
    return promql_metric_names(selector) if sep else set()


def dashboard_queries(dashboard: dict[str, Any]) -> list[str]:
    queries: list[str] = []
    for node in _walk(dashboard.get("panels", [])):
        expr = node.get("expr")
        if isinstance(expr, str) and expr.strip():
            queries.append(expr)
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        text = query.get("query") if isinstance(query, dict) else query
        if isinstance(text, str) and text.strip():
            queries.append(text)
    return queries


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (stage) (rate(foo_total{stage=~"$stage"}[$__rate_interval]))', {"foo_total"}),
        ("histogram_quantile(0.95, sum by (le, stage) (rate(a_bucket[5m])))", {"a_bucket"}),
        ("sum(rate(a_sum[1m])) / sum(rate(a_count[1m])) > 1e3", {"a_sum", "a_count"}),
        ("up == 0 and on (instance) b", {"up", "b"}),
        ('label_values(groundswell_x_total{a="b"}, stage)', {"groundswell_x_total"}),
        ("label_values(stage)", set()),
    ],
)
def test_metric_name_extraction(expr: str, names: set[str]) -> None:
    assert grafana_query_metric_names(expr) == names


# ----------------------------------------------------------------------------------------------
# docker-compose.yml
# ----------------------------------------------------------------------------------------------


def test_compose_uses_the_compose_spec(compose: dict[str, Any]) -> None:
    assert "version" not in compose, "the compose spec has no top-level `version:`"


def test_every_service_pins_its_image_or_builds_the_dockerfile(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        if "build" in svc:
            build = svc["build"]
            context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            assert (context / dockerfile).resolve() == DOCKERFILE, f"{name}: builds something else"
            continue
        image = svc.get("image")
        assert isinstance(image, str), f"{name}: no image and no build"
        tag = _image_tag(image)
        if "@sha256:" in image:
            continue
        assert tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest", f"{name}: image {image!r} is not pinned"
        assert "$" not in tag, f"{name}: image tag {image!r} depends on the environment"
        assert re.search(r"\d", tag), f"{name}: image tag {image!r} names no version"


def test_depends_on_names_existing_services(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        for dep, condition in _depends_on(svc).items():
            assert dep in services, f"{name} depends on unknown service {dep!r}"
            assert dep != name
            assert condition in {"service_started", "service_healthy", "service_completed_successfully"}
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], (
                    f"{name} waits for {dep} healthy; it has no healthcheck"
                )
            if condition == "service_completed_successfully":
                assert services[dep].get("restart", "no") == "no", f"{dep} is one-shot; it must not restart"


def test_long_running_services_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    for name in ("kafka", "neo4j", "worker", "api", "prometheus", "grafana"):
        assert name in services, f"missing service {name}"
        test = services[name].get("healthcheck", {}).get("test")
        assert test, f"{name} has no healthcheck"


def test_kafka_runs_kraft_single_node_without_auto_create(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    assert str(kafka["image"]).startswith("apache/kafka:")
    env = _environment(kafka)
    assert set(str(env["KAFKA_PROCESS_ROLES"]).split(",")) == {"broker", "controller"}
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env
    assert str(env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]).lower() == "false"
    assert "PLAINTEXT://kafka:9092" in str(env["KAFKA_ADVERTISED_LISTENERS"])


def test_kafka_init_creates_exactly_the_pipeline_topics(services: dict[str, dict[str, Any]]) -> None:
    init = services["kafka-init"]
    assert _depends_on(init) == {"kafka": "service_healthy"}
    lines = [line for line in _command_text(init).splitlines() if "--create" in line]
    topics = [m.group(1) for line in lines for m in re.finditer(r"--topic[=\s]+(\S+)", line)]
    assert sorted(topics) == sorted(set(topics)), "a topic is created twice"
    assert set(topics) == PIPELINE_TOPICS
    for line in lines:
        assert re.search(rf"--partitions[=\s]+{PARTITIONS}\b", line), f"not {PARTITIONS} partitions: {line}"
        assert "--if-not-exists" in line, f"not idempotent: {line}"


def test_project_services_get_only_groundswell_settings(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in _project_services(services).items():
        assert "env_file" not in svc, f"{name}: env_file would pass unchecked variables"
        env = _environment(svc)
        assert env, f"{name}: no environment"
        for key in env:
            assert key.startswith("GROUNDSWELL_"), f"{name}: {key} is not a GROUNDSWELL_ setting"
            assert key in KNOWN_SETTINGS, f"{name}: unknown setting {key}"
        assert env["GROUNDSWELL_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["GROUNDSWELL_GRAPH_URI"] == "bolt://neo4j:7687"
        assert env.get("GROUNDSWELL_PARTITIONS") in (None, str(PARTITIONS))
        deps = _depends_on(svc)
        assert deps.get("kafka-init") == "service_completed_successfully", f"{name} may start before topics"
        assert deps.get("neo4j") == "service_healthy", f"{name} may start before Neo4j"
        assert deps.get("kafka") == "service_healthy", f"{name} may start before Kafka"


def test_neo4j_is_5x_with_auth_from_the_environment(services: dict[str, dict[str, Any]]) -> None:
    neo4j = services["neo4j"]
    assert str(_image_tag(neo4j["image"])).startswith("5.")
    auth = str(_environment(neo4j)["NEO4J_AUTH"])
    assert re.fullmatch(r"neo4j/\$\{\w+:-.{8,}\}", auth), "NEO4J_AUTH: neo4j/${VAR:-default of 8+ chars}"
    var = auth[len("neo4j/${") :].split(":-", 1)[0]
    for name, svc in _project_services(services).items():
        assert f"${{{var}:-" in str(_environment(svc)["GROUNDSWELL_GRAPH_PASSWORD"]), name


def test_worker_and_api_services(services: dict[str, dict[str, Any]]) -> None:
    worker, api = services["worker"], services["api"]
    assert _command_words(worker) == ["groundswell", "worker"]
    assert worker.get("deploy", {}).get("replicas") == 2
    assert not worker.get("ports"), "replicas cannot share a published host port"
    assert _command_words(api) == ["groundswell", "api"]
    api_port = int(_environment(api).get("GROUNDSWELL_API_PORT") or DEFAULT_API_PORT)
    assert api_port == DEFAULT_API_PORT
    assert api_port in _published_container_ports(api)


# ----------------------------------------------------------------------------------------------
# Prometheus
# ----------------------------------------------------------------------------------------------


def test_prometheus_scrapes_the_api_and_every_worker(services: dict[str, dict[str, Any]]) -> None:
    prometheus = services["prometheus"]
    mounts = [str(v) for v in prometheus.get("volumes", [])]
    assert any(m.startswith("./deploy/prometheus/prometheus.yml:") for m in mounts), mounts

    config = _load_yaml(PROMETHEUS_FILE)
    assert isinstance(config, dict)
    jobs = config["scrape_configs"]
    assert len({job["job_name"] for job in jobs}) == len(jobs), "duplicate job_name"

    api_port = int(_environment(services["api"]).get("GROUNDSWELL_API_PORT") or DEFAULT_API_PORT)
    worker_env = _environment(services["worker"])
    worker_port = int(worker_env.get("GROUNDSWELL_WORKER_METRICS_PORT") or DEFAULT_WORKER_METRICS_PORT)
    assert worker_port == DEFAULT_WORKER_METRICS_PORT

    static_targets = {
        target
        for job in jobs
        if job.get("metrics_path", "/metrics") == "/metrics"
        for static in job.get("static_configs", [])
        for target in static.get("targets", [])
    }
    assert f"api:{api_port}" in static_targets

    dns = [
        sd
        for job in jobs
        if job.get("metrics_path", "/metrics") == "/metrics"
        for sd in job.get("dns_sd_configs", [])
    ]
    assert any(
        "worker" in sd.get("names", []) and sd.get("type", "SRV") == "A" and sd.get("port") == worker_port
        for sd in dns
    ), f"no dns_sd_configs for worker:{worker_port}: {dns}"


# ----------------------------------------------------------------------------------------------
# Grafana
# ----------------------------------------------------------------------------------------------


def _provisioned_datasources() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in _yaml_files(DATASOURCES_DIR):
        found.extend(_load_yaml(path).get("datasources", []))
    return found


def test_grafana_provisioning(services: dict[str, dict[str, Any]]) -> None:
    grafana = services["grafana"]
    env = _environment(grafana)
    assert env.get("GF_AUTH_ANONYMOUS_ENABLED") == "true"
    assert env.get("GF_AUTH_ANONYMOUS_ORG_ROLE") == "Viewer"

    mounts: dict[str, str] = {}
    for volume in grafana.get("volumes", []):
        source, _, rest = str(volume).partition(":")
        mounts[source.rstrip("/")] = rest.split(":", 1)[0]
    assert mounts.get("./deploy/grafana/provisioning") == "/etc/grafana/provisioning"
    dashboards_target = mounts.get("./deploy/grafana/dashboards")
    assert dashboards_target, "deploy/grafana/dashboards is not mounted"

    datasources = _provisioned_datasources()
    assert [ds["type"] for ds in datasources] == ["prometheus"]
    assert datasources[0]["url"] == "http://prometheus:9090"
    assert "prometheus" in services

    providers = [p for path in _yaml_files(DASHBOARD_PROVIDERS_DIR) for p in _load_yaml(path)["providers"]]
    assert [p["options"]["path"].rstrip("/") for p in providers] == [dashboards_target.rstrip("/")]


def test_dashboard_datasource_uid_matches_the_provisioned_one(dashboard: dict[str, Any]) -> None:
    (provisioned,) = _provisioned_datasources()
    refs = [
        node["datasource"]
        for node in _walk([dashboard.get("panels", []), dashboard.get("templating", {})])
        if isinstance(node.get("datasource"), dict)
    ]
    assert refs, "no datasource references in the dashboard"
    for ref in refs:
        assert ref.get("uid") == provisioned["uid"], ref
        assert ref.get("type") == "prometheus", ref


def test_dashboard_is_valid_grafana_json(dashboard: dict[str, Any]) -> None:
    assert dashboard.get("uid")
    assert dashboard.get("title")
    assert int(dashboard["schemaVersion"]) >= 36
    panels = [p for p in _walk(dashboard["panels"]) if "gridPos" in p]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["type"] in {"timeseries", "stat", "gauge", "bargauge", "table"}, panel["type"]
        assert panel.get("targets"), f"panel {panel['title']!r} has no queries"
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), f"panel {panel['title']!r}: duplicate refId"


def test_dashboard_queries_use_only_exported_metric_names(dashboard: dict[str, Any]) -> None:
    families = exported_series_by_family()
    exported = set().union(*families.values())
    queries = dashboard_queries(dashboard)
    assert queries, "the dashboard has no queries"
    used: set[str] = set()
    for query in queries:
        names = grafana_query_metric_names(query)
        assert names, f"query selects no metric: {query}"
        unknown = names - exported
        assert not unknown, f"{query!r} uses {sorted(unknown)}, not in groundswell/metrics.py"
        used |= names
    unused = sorted(family for family, names in families.items() if not names & used)
    assert not unused, f"metrics with no panel: {unused}"


def test_latency_panels_use_histogram_quantile_by_le(dashboard: dict[str, Any]) -> None:
    quantiles = [q for q in dashboard_queries(dashboard) if "histogram_quantile" in q]
    assert any("groundswell_stage_latency_seconds_bucket" in q for q in quantiles)
    for query in quantiles:
        assert re.search(r"by \(le\b", query), f"histogram_quantile without `by (le ...)`: {query}"
        assert "_bucket" in query, query
        assert "rate(" in query, query


# ----------------------------------------------------------------------------------------------
# Dockerfile
# ----------------------------------------------------------------------------------------------


def test_dockerfile() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    instructions = [
        line.strip()
        for line in re.sub(r"\\\n", " ", text).splitlines()
        if line.strip() and not line.startswith("#")
    ]
    bases = [line.split()[1] for line in instructions if line.upper().startswith("FROM ")]
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", "\n".join(instructions), flags=re.MULTILINE))
    resolved = [re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), b) for b in bases]
    assert resolved, "no FROM"
    for base in resolved:
        assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", base), base
    assert re.search(
        r"pip install .*--index-url https://download\.pytorch\.org/whl/cpu .*torch==2\.13\.0", text
    ), "torch must come from the CPU index"
    assert re.search(r"pip install -c constraints\.txt \.(\s|$)", text)
    users = [line.split()[1] for line in instructions if line.upper().startswith("USER ")]
    assert users, "no USER: the image would run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}, "the image must not run as root"
    cmds = [line for line in instructions if line.upper().startswith("CMD ")]
    assert cmds, "no CMD"
    assert json.loads(cmds[-1][4:]) == ["groundswell", "worker"]


def test_dockerignore_keeps_the_context_small() -> None:
    entries = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", "var"} <= entries
    assert not entries & {"constraints.txt", "pyproject.toml", "README.md", "*.md"}, "the build needs these"


# ----------------------------------------------------------------------------------------------
# docker compose itself, where the CLI plugin is installed (no engine needed for `config`)
# ----------------------------------------------------------------------------------------------


def test_docker_compose_config_accepts_the_file() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("the docker CLI is not installed, so neither is its compose plugin")
    version = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, timeout=60, check=False
    )
    if version.returncode != 0:
        reason = (version.stderr.strip().splitlines() or ["no output"])[0]
        pytest.skip(f"the docker compose CLI plugin is not installed ({reason})")
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
