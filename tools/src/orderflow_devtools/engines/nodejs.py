"""Node.js programs installed with npm into the cache: fauxqs and the seed baseline.

The cache is `$ORDERFLOW_CACHE_DIR`, else `$XDG_CACHE_HOME/orderflow`, else `~/.cache/orderflow`.
An install goes to a temporary folder first and is renamed into place when it is complete, so an
interrupted one is never mistaken for a finished one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from orderflow_cli.errors import CliError

FAUXQS_VERSION = "2.4.1"
NODE_PACKAGE = "node@22"
MIN_NODE = (22, 5)
_DONE = ".orderflow-installed"
_NPM_TIMEOUT_S = 600

Log = Callable[[str], None]


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("ORDERFLOW_CACHE_DIR"):
        return Path(env["ORDERFLOW_CACHE_DIR"])
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "orderflow"


@dataclass(frozen=True, slots=True)
class FauxqsInstall:
    """An installed fauxqs: its folder (holding node_modules) and the Node.js that runs it."""

    root: Path
    node: Path

    @property
    def node_bin_dir(self) -> Path:
        return self.node.parent


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise CliError(
            "npm is not installed: the fauxqs engine and the seed baseline are installed with it "
            "(Debian: `apt-get install npm`); or use `--engine moto`"
        )
    return npm


def run_npm(args: Sequence[str], cwd: Path, log: Log, path_first: Path | None = None) -> None:
    """`npm ARGS` in `cwd`; its output is shown only when it fails."""
    env = dict(os.environ)
    env.update(
        npm_config_fund="false", npm_config_audit="false", npm_config_update_notifier="false"
    )
    if path_first is not None:
        env["PATH"] = f"{path_first}{os.pathsep}{env.get('PATH', '')}"
    command = [_npm(), *args]
    log(f"$ npm {' '.join(args)}  (in {cwd})")
    try:
        result = subprocess.run(  # noqa: S603 — npm, with arguments of our own
            command,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=_NPM_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CliError(f"`npm {' '.join(args)}` took more than {_NPM_TIMEOUT_S} s") from exc
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise CliError(f"`npm {' '.join(args)}` failed (exit code {result.returncode}):\n{tail}")


def node_version(node: Path) -> tuple[int, int]:
    try:
        out = subprocess.run(  # noqa: S603 — the node we installed
            [str(node), "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise CliError(f"cannot run {node}: {exc}") from exc
    match = re.match(r"v(\d+)\.(\d+)", out.strip())
    if match is None:
        raise CliError(f"{node} --version said {out.strip()!r}")
    return int(match[1]), int(match[2])


def ensure_fauxqs(log: Log, environ: Mapping[str, str] | None = None) -> FauxqsInstall:
    """fauxqs FAUXQS_VERSION and node@22 in the cache, installed on first use."""
    root = cache_dir(environ) / f"fauxqs-{FAUXQS_VERSION}"
    node = root / "node_modules" / "node" / "bin" / "node"
    if not (root / _DONE).is_file():
        log(f"installing fauxqs {FAUXQS_VERSION} and {NODE_PACKAGE} into {root} (first use)")
        root.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
        try:
            (staging / "package.json").write_text(
                '{"name": "orderflow-fauxqs", "private": true}\n', encoding="utf-8"
            )
            run_npm(
                ["install", "--save-exact", "--no-package-lock", NODE_PACKAGE,
                 f"fauxqs@{FAUXQS_VERSION}"],
                staging,
                log,
            )  # fmt: skip
            (staging / _DONE).write_text(f"fauxqs@{FAUXQS_VERSION} {NODE_PACKAGE}\n")
            if root.exists():
                shutil.rmtree(root)
            staging.rename(root)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    if not node.is_file():
        raise CliError(f"{node} is missing: delete {root} and try again")
    if node_version(node) < MIN_NODE:
        raise CliError(f"{node} is older than Node {'.'.join(map(str, MIN_NODE))}")
    if not (root / "node_modules" / "fauxqs" / "dist" / "app.js").is_file():
        raise CliError(f"fauxqs is missing from {root}: delete the folder and try again")
    return FauxqsInstall(root=root, node=node)


def launcher_path() -> Path:
    return Path(str(resources.files("orderflow_devtools.engines").joinpath("fauxqs_launcher.mjs")))


def fauxqs_argv(install: FauxqsInstall, port: int) -> tuple[list[str], dict[str, str]]:
    """The command line and extra environment that run fauxqs on 127.0.0.1:`port`."""
    argv = [str(install.node), "--no-warnings", str(launcher_path()), str(port)]
    return argv, {"FAUXQS_ROOT": str(install.root), "FAUXQS_LOGGER": "false"}


def _tree_digest(source: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(source.rglob("*")):
        if path.is_file() and "node_modules" not in path.parts and "dist" not in path.parts:
            digest.update(str(path.relative_to(source)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def ensure_seed(source: Path, install: FauxqsInstall, log: Log) -> Path:
    """A built copy of the seed baseline (`npm ci && npm run build`) in the cache; its folder.

    `source` may be read-only: it is copied first. The copy is keyed by the source's contents.
    """
    if not (source / "package.json").is_file():
        raise CliError(f"the seed baseline is not at {source} (set SEED_DIR)")
    target = install.root.parent / f"seed-node-{_tree_digest(source)}"
    if (target / _DONE).is_file():
        return target
    log(f"building the seed baseline from {source} in {target}")
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        shutil.copytree(
            source,
            staging,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("node_modules", "dist"),
        )
        for path in [staging, *staging.rglob("*")]:
            with contextlib.suppress(OSError):
                path.chmod(path.stat().st_mode | 0o200)
        run_npm(["ci"], staging, log, path_first=install.node_bin_dir)
        run_npm(["run", "build"], staging, log, path_first=install.node_bin_dir)
        (staging / _DONE).write_text("built\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
