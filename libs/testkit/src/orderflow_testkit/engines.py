"""The SQS engine a test session runs on: moto server (default) or fauxqs.

`ORDERFLOW_TEST_ENGINE=fauxqs` runs the suite on fauxqs, the fast engine `orderflow up --engine
fauxqs` uses: installed, pinned, by the CLI's installer into the user's cache (never the
repository), started once per session on a free loopback port and stopped by its pid.

What an engine lacks is declared in `MISSING_FEATURES`; a test marked
`@pytest.mark.needs_engine_feature("...")` skips there, with the reason in the skip message.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Final

from moto.server import ThreadedMotoServer

from orderflow_testkit.waiting import ConditionTimeout, free_port, port_is_listening, wait_for_sync

ENGINE_ENV: Final = "ORDERFLOW_TEST_ENGINE"
ENGINES: Final = ("moto", "fauxqs")
DEFAULT_ENGINE: Final = "moto"

MISSING_FEATURES: Final[Mapping[str, Mapping[str, str]]] = {
    "moto": {},
    "fauxqs": {
        "query protocol": "fauxqs speaks only the JSON protocol (boto3's default)",
        "FIFO group batches": (
            "fauxqs hands out at most one message per message group in a receive (AWS and moto "
            "hand out several), so a consumer never holds a group's later messages"
        ),
    },
}
"""Per engine: the features it lacks, each with why (shown when a test skips for it)."""

_START_TIMEOUT_S: Final = 30.0
_STOP_TIMEOUT_S: Final = 10.0


class EngineUnavailable(Exception):
    """The engine cannot be installed here (e.g. npm is missing)."""


def selected_engine(environ: Mapping[str, str] | None = None) -> str:
    """The engine `$ORDERFLOW_TEST_ENGINE` names (default moto); anything else is refused."""
    env = os.environ if environ is None else environ
    engine = env.get(ENGINE_ENV, "").strip().lower() or DEFAULT_ENGINE
    if engine not in ENGINES:
        raise ValueError(f"{ENGINE_ENV}={engine!r}: expected one of {', '.join(ENGINES)}")
    return engine


def missing_feature(engine: str, feature: str) -> str | None:
    """Why `engine` cannot run a test needing `feature`, or None when it can.

    A feature no engine declares is refused, so a misspelt marker cannot skip silently.
    """
    known = {name for lacks in MISSING_FEATURES.values() for name in lacks}
    if feature not in known:
        raise ValueError(
            f"unknown engine feature {feature!r}: expected one of {', '.join(sorted(known))}"
        )
    reason = MISSING_FEATURES[engine].get(feature)
    return None if reason is None else f"not on {engine} ({feature}): {reason}"


def has_feature(engine: str, feature: str) -> bool:
    """Whether `engine` has `feature`, for a test whose expectations differ where it does not."""
    return missing_feature(engine, feature) is None


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto server in this process (threaded), on a free loopback port; yields its endpoint."""
    port = free_port()
    # One access-log line per SQS call would bury every failing test's own output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def engine_command(engine: str, port: int) -> tuple[list[str], dict[str, str]]:
    """The command line and extra environment that run `engine` on 127.0.0.1:`port`.

    fauxqs is installed into the cache on first use; raises `EngineUnavailable` when it cannot be.
    """
    if engine == "moto":
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], {}
    if engine != "fauxqs":
        raise ValueError(f"unknown SQS engine {engine!r}: expected one of {', '.join(ENGINES)}")
    # The installer belongs to orderflow-devtools; importing it here keeps the moto path free of it.
    from orderflow_devtools.engines import InstallFailed, ensure_fauxqs, fauxqs_argv

    try:
        install = ensure_fauxqs(lambda line: None)
    except InstallFailed as exc:
        raise EngineUnavailable(f"fauxqs cannot be installed: {exc}") from exc
    return fauxqs_argv(install, port)


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to this child's pid; SIGKILL if it has not exited within the grace period."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def fauxqs_server(log_path: Path) -> Iterator[str]:
    """fauxqs on a free loopback port, logging to `log_path`; yields its endpoint.

    Raises `EngineUnavailable` when it cannot be installed; one that is installed but does not
    come up is a failure (`RuntimeError`, with its log), never a skip.
    """
    port = free_port()
    argv, extra = engine_command("fauxqs", port)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            env={**os.environ, **extra},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        with contextlib.suppress(ConditionTimeout):
            wait_for_sync(
                lambda: process.poll() is not None or port_is_listening(port),
                timeout_s=_START_TIMEOUT_S,
            )
        if process.poll() is not None or not port_is_listening(port):
            raise RuntimeError(
                f"fauxqs did not listen on 127.0.0.1:{port} within {_START_TIMEOUT_S:g} s "
                f"(exit code {process.poll()}):\n{_log_tail(log_path)}"
            )
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)
