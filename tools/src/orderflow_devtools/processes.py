"""The process runner: how orderflow's tools start, watch and stop a child process.

`orderflow up` (the supervisor), the benchmark and the test kit's chaos systems all run children
the same way: in a session (and so a process group) of their own, so that a Ctrl-C typed in the
terminal reaches only the parent, which decides the order of shutdown; stdin closed; output to a
log file or a pipe. A stop is SIGTERM, a grace period, then SIGKILL. Exits are described in
words, and a failure quotes the end of the child's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Final

from orderflow_cli.errors import CliError

SPAWN_OPTIONS: Final[Mapping[str, Any]] = {
    "stdin": asyncio.subprocess.DEVNULL,
    "start_new_session": True,
}
"""What every child gets, for `asyncio.create_subprocess_exec` and `subprocess.Popen` alike."""

Output = int | IO[Any] | None


async def start_child(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None,
    cwd: Path | None = None,
    stdout: Output,
    stderr: Output,
) -> asyncio.subprocess.Process:
    """Start `argv` in a session of its own; a program that cannot start is a one-line error."""
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdout=stdout,
            stderr=stderr,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            **SPAWN_OPTIONS,
        )
    except OSError as exc:
        raise CliError(f"cannot start {name} ({argv[0]}): {exc}") from exc


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal a child and whatever it spawned: it leads its group, so its pid is the group id."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def stop_child(
    process: asyncio.subprocess.Process,
    *,
    timeout_s: float,
    force: asyncio.Event | None = None,
    before_kill: Callable[[str], None] | None = None,
) -> bool:
    """SIGTERM to the child's group; SIGKILL after `timeout_s`, or at once when `force` is set.

    before_kill: told why ("after 15 s", "on request") just before the SIGKILL goes out.
    Returns whether it had to be killed. A child that already exited is only reaped.
    """
    if process.returncode is not None:
        return False
    signal_group(process.pid, signal.SIGTERM)
    exited = asyncio.ensure_future(process.wait())
    forced = asyncio.ensure_future((force or asyncio.Event()).wait())
    try:
        await asyncio.wait({exited, forced}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        forced.cancel()
    if exited.done():
        return False
    if before_kill is not None:
        before_kill(
            "on request" if force is not None and force.is_set() else f"after {timeout_s:g} s"
        )
    signal_group(process.pid, signal.SIGKILL)
    await exited
    return True


def describe_exit(returncode: int | None) -> str:
    """A return code in words: "exit code 1", "killed by SIGKILL", "still running"."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def log_tail(path: Path, lines: int, *, missing: str = "") -> str:
    """The last `lines` lines of a child's log (`missing` when there is none yet)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return missing
    return "\n".join(text.splitlines()[-lines:])
