"""The supervisor behind `orderflow up`, driven with tiny Python child processes."""

from __future__ import annotations

import asyncio
import io
import os
import sys
import time
from pathlib import Path

import pytest

from orderflow_devtools.supervisor import ChildDied, ProcessSpec, Stopped, Supervisor
from orderflow_testkit.waiting import wait_for_sync


def python(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


SLEEPER = python("import time\nwhile True: time.sleep(0.05)")
# Ignores SIGTERM: only SIGKILL ends it.
STUBBORN = python(
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "while True: time.sleep(0.05)"
)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes: it only waits for its parent to reap it.
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split(") ", 1)[1][0] != "Z"


async def test_a_child_that_exits_early_is_reported_by_name_and_the_rest_are_stopped() -> None:
    out = io.StringIO()
    supervisor = Supervisor(out, colour=False)
    sleeper = await supervisor.start(ProcessSpec(name="sleeper", argv=SLEEPER))
    await supervisor.start(
        ProcessSpec(name="quitter", argv=python("import sys; print('bye'); sys.exit(3)"))
    )

    with pytest.raises(ChildDied) as died:
        await supervisor.watch(asyncio.Event().wait(), asyncio.Event())
    await supervisor.stop_all()

    assert died.value.child.name == "quitter"
    assert str(died.value) == "quitter exited unexpectedly (exit code 3)"
    assert sleeper.returncode is not None
    assert not pid_alive(sleeper.pid)
    assert "quitter         | bye\n" in out.getvalue()


async def test_output_lines_are_prefixed_with_the_child_name_and_plain_without_a_terminal() -> None:
    out = io.StringIO()
    supervisor = Supervisor(out, colour=False)
    child = await supervisor.start(
        ProcessSpec(
            name="talker",
            argv=python(
                "import sys\n"
                "print('one')\n"
                "print('two', file=sys.stderr)\n"
                "sys.stdout.write('x' * 200000 + '\\n')\n"
                "sys.stdout.write('no newline at the end')"
            ),
        )
    )
    with pytest.raises(ChildDied):
        await supervisor.watch(asyncio.Event().wait(), asyncio.Event())
    await supervisor.stop_all()

    lines = out.getvalue().splitlines()
    assert child.returncode == 0
    assert lines[0] == "talker          | one"
    assert "talker          | two" in lines
    assert f"talker          | {'x' * 200000}" in lines
    assert "talker          | no newline at the end" in lines
    assert "\x1b[" not in out.getvalue()


async def test_colour_marks_each_name_with_a_colour_of_its_own_when_asked() -> None:
    out = io.StringIO()
    supervisor = Supervisor(out, colour=True)
    for name in ("first", "second", "first"):
        supervisor.line(name, "hello")
    assert out.getvalue().splitlines() == [
        f"\x1b[36m{'first':<15} |\x1b[0m hello",
        f"\x1b[35m{'second':<15} |\x1b[0m hello",
        f"\x1b[36m{'first':<15} |\x1b[0m hello",
    ]


async def test_hidden_lines_are_not_shown() -> None:
    out = io.StringIO()
    supervisor = Supervisor(out, colour=False)
    await supervisor.start(
        ProcessSpec(
            name="noisy",
            argv=python("print('keep'); print('drop me'); print('keep too')"),
            hide_line=lambda line: line.startswith("drop"),
        )
    )
    with pytest.raises(ChildDied):
        await supervisor.watch(asyncio.Event().wait(), asyncio.Event())
    await supervisor.stop_all()
    assert "drop me" not in out.getvalue()
    assert "keep too" in out.getvalue()


async def test_watch_returns_the_work_result_or_raises_stopped_when_asked_to_stop() -> None:
    supervisor = Supervisor(io.StringIO(), colour=False)
    stop = asyncio.Event()

    async def answer() -> int:
        return 42

    assert await supervisor.watch(answer(), stop) == 42
    stop.set()
    with pytest.raises(Stopped):
        await supervisor.watch(asyncio.sleep(30), stop)


async def test_higher_layers_stop_first_and_every_child_exits() -> None:
    out = io.StringIO()
    supervisor = Supervisor(out, colour=False)
    engine = await supervisor.start(ProcessSpec(name="engine", argv=SLEEPER, layer=0))
    services = [
        await supervisor.start(ProcessSpec(name=f"service{i}", argv=SLEEPER, layer=1))
        for i in range(2)
    ]

    await supervisor.stop_all()

    log = [line for line in out.getvalue().splitlines() if "stopped" in line]
    assert log[-1].startswith("orderflow")
    assert "engine stopped (killed by SIGTERM)" in log[-1]
    assert {line.split("| ")[1].split()[0] for line in log[:2]} == {"service0", "service1"}
    assert all(not pid_alive(c.pid) for c in [engine, *services])


async def test_a_child_that_ignores_sigterm_is_killed_after_its_stop_timeout() -> None:
    out = io.StringIO()
    supervisor = Supervisor(out, colour=False)
    stubborn = await supervisor.start(
        ProcessSpec(name="stubborn", argv=STUBBORN, stop_timeout_s=0.5)
    )
    # Wait until it has installed its handler, or SIGTERM would still kill it.
    await _wait_for_text(out, "stubborn        | ready")

    started = time.monotonic()
    await supervisor.stop_all()

    assert stubborn.killed
    assert stubborn.returncode == -9
    assert 0.5 <= time.monotonic() - started < 5
    assert "stubborn did not stop after 0.5 s: sending SIGKILL" in out.getvalue()


async def test_force_kills_at_once_without_waiting_for_the_stop_timeout() -> None:
    out = io.StringIO()
    supervisor = Supervisor(out, colour=False)
    stubborn = await supervisor.start(ProcessSpec(name="stubborn", argv=STUBBORN))
    await _wait_for_text(out, "stubborn        | ready")
    force = asyncio.Event()
    force.set()

    started = time.monotonic()
    await supervisor.stop_all(force)

    assert stubborn.killed
    assert time.monotonic() - started < 5


async def test_stopping_a_child_also_stops_the_processes_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "while True: time.sleep(0.05)"
    )
    supervisor = Supervisor(io.StringIO(), colour=False)
    await supervisor.start(ProcessSpec(name="parent", argv=python(code)))
    await _wait_for_file(pid_file)
    grandchild = int(pid_file.read_text())

    await supervisor.stop_all()

    await _wait_for_death(grandchild)


async def _wait_for_text(out: io.StringIO, text: str) -> None:
    await asyncio.to_thread(wait_for_sync, lambda: text in out.getvalue(), what=repr(text))


async def _wait_for_file(path: Path) -> None:
    await asyncio.to_thread(
        wait_for_sync, lambda: path.exists() and bool(path.read_text()), what=str(path)
    )


async def _wait_for_death(pid: int) -> None:
    await asyncio.to_thread(wait_for_sync, lambda: not pid_alive(pid), what=f"{pid} exits")
