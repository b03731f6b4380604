"""Runs child processes, prefixes their output, notices when one dies, stops them in order.

Each child gets a session (and so a process group) of its own: a Ctrl-C typed in the terminal
reaches only `orderflow`, which then decides the order of shutdown (services first, then the
SQS engine) instead of every process getting SIGINT at once. Stopping a child signals its whole
group, so anything it spawned goes with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO, TypeVar

from orderflow_devtools.processes import describe_exit, start_child, stop_child

T = TypeVar("T")

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_COLOURS = ("36", "35", "33", "32", "34")  # cyan, magenta, yellow, green, blue: no red
_READ_CHUNK = 65536


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessSpec:
    """One child process.

    name: shown before each of its output lines and in messages.
    argv: the command line.
    env: its environment (default: this process's).
    layer: children of a higher layer are stopped first, all at once (default 0).
    stop_timeout_s: how long it gets between SIGTERM and SIGKILL (default 15 s).
    hide_line: a filter for output lines not worth showing (default: show everything).
    """

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    layer: int = 0
    stop_timeout_s: float = 15.0
    hide_line: Callable[[str], bool] | None = None


@dataclass(eq=False)
class Child:
    """A started child; `returncode` is None while it runs."""

    spec: ProcessSpec
    process: asyncio.subprocess.Process
    stopping: bool = False
    killed: bool = False
    exited: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode


class Stopped(Exception):
    """The stop event was set (Ctrl-C or SIGTERM) before the awaited work finished."""


class ChildDied(Exception):
    """A child exited although nobody asked it to."""

    def __init__(self, child: Child) -> None:
        super().__init__(f"{child.name} exited unexpectedly ({describe_exit(child.returncode)})")
        self.child = child


class Supervisor:
    """Starts children, relays their output line by line, stops them layer by layer."""

    def __init__(
        self, output: TextIO | None = None, *, colour: bool | None = None, name_width: int = 15
    ) -> None:
        self._output = output if output is not None else sys.stdout
        if colour is None:
            colour = self._output.isatty() and "NO_COLOR" not in os.environ
        self._colour = colour
        self._width = name_width
        self._palette = itertools.cycle(_COLOURS)
        self._colours: dict[str, str] = {}
        self._children: list[Child] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._died: asyncio.Queue[Child] = asyncio.Queue()
        self._output_broken = False

    @property
    def children(self) -> Sequence[Child]:
        return tuple(self._children)

    # --- output -------------------------------------------------------------------------------

    def _prefix(self, name: str) -> str:
        label = f"{name:<{self._width}} |"
        if not self._colour:
            return label
        if name not in self._colours:
            self._colours[name] = next(self._palette)
        code = self._colours[name]
        return f"\x1b[{code}m{label}\x1b[0m"

    def write(self, text: str) -> None:
        """Write and flush `text` as is; a closed terminal or pipe is not worth dying for."""
        if self._output_broken:
            return
        try:
            self._output.write(text)
            self._output.flush()
        except (OSError, ValueError):
            self._output_broken = True

    def line(self, name: str, text: str) -> None:
        """One output line prefixed by `name`."""
        self.write(f"{self._prefix(name)} {text}\n")

    def log(self, text: str) -> None:
        """A line from the supervisor itself."""
        self.line("orderflow", text)

    # --- starting -----------------------------------------------------------------------------

    async def start(self, spec: ProcessSpec) -> Child:
        """Start `spec` in a session of its own, stdout and stderr merged into our output."""
        process = await start_child(
            spec.name,
            spec.argv,
            env=spec.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        child = Child(spec, process)
        self._children.append(child)
        self._tasks.append(asyncio.create_task(self._follow(child), name=f"follow {spec.name}"))
        return child

    async def _relay_output(self, child: Child) -> None:
        stream = child.process.stdout
        assert stream is not None  # noqa: S101 — narrowing: started with stdout=PIPE
        pending = b""
        while chunk := await stream.read(_READ_CHUNK):
            *lines, pending = (pending + chunk).split(b"\n")
            for raw in lines:
                self._emit(child, raw)
        if pending:
            self._emit(child, pending)

    def _emit(self, child: Child, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace").rstrip("\r")
        if not self._colour:
            # Some children colour their output even into a pipe (werkzeug does).
            text = _ANSI_ESCAPE.sub("", text)
        if child.spec.hide_line is not None and child.spec.hide_line(text):
            return
        self.line(child.name, text)

    async def _follow(self, child: Child) -> None:
        relay = asyncio.create_task(self._relay_output(child))
        await child.process.wait()
        # Show its last words before saying it exited; a grandchild holding the pipe open
        # must not keep us waiting, though.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(relay), 2.0)
        if not relay.done():
            relay.cancel()
        child.exited.set()
        if not child.stopping:
            self._died.put_nowait(child)

    # --- waiting ------------------------------------------------------------------------------

    async def watch(self, work: Awaitable[T], stop: asyncio.Event) -> T:
        """Await `work`, unless `stop` is set first (`Stopped`) or a child dies (`ChildDied`)."""
        task = asyncio.ensure_future(work)
        stopping = asyncio.create_task(stop.wait())
        dying = asyncio.create_task(self._died.get())
        try:
            await asyncio.wait({task, stopping, dying}, return_when=asyncio.FIRST_COMPLETED)
            if dying.done():
                raise ChildDied(dying.result())
            if stopping.done():
                raise Stopped
            return task.result()
        finally:
            for waiter in (task, stopping, dying):
                if not waiter.done():
                    waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # --- stopping -----------------------------------------------------------------------------

    async def stop_all(self, force: asyncio.Event | None = None) -> None:
        """Stop every child, the highest layer first; `force` set means SIGKILL without waiting."""
        force = force or asyncio.Event()
        for layer in sorted({c.spec.layer for c in self._children}, reverse=True):
            group = [c for c in self._children if c.spec.layer == layer]
            await asyncio.gather(*(self._stop(c, force) for c in group))
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _stop(self, child: Child, force: asyncio.Event) -> None:
        child.stopping = True
        if child.exited.is_set():
            return

        def killing(why: str) -> None:
            self.log(f"{child.name} did not stop {why}: sending SIGKILL")
            child.killed = True

        await stop_child(
            child.process, timeout_s=child.spec.stop_timeout_s, force=force, before_kill=killing
        )
        await child.exited.wait()  # its last lines are shown before the word that it stopped
        self.log(f"{child.name} stopped ({describe_exit(child.returncode)})")
