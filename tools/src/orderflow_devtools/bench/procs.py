"""Child processes of the benchmark, on the process runner: logged to files, measured.

CPU time and peak memory come from /proc: `utime + stime` of /proc/PID/stat and `VmHWM` of
/proc/PID/status.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from orderflow_cli.errors import CliError
from orderflow_devtools.probes import http_status
from orderflow_devtools.processes import log_tail, start_child, stop_child

_TICKS = os.sysconf("SC_CLK_TCK")


class Proc:
    """One child. `on_line` (if given) is called with (wall time, line) for each stdout line."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_dir: Path,
        on_line: Callable[[float, str], None] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_dir / f"{name}.log"
        self.on_line = on_line
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._log: BinaryIO | None = None
        self.rss_peak_mb = 0.0

    @property
    def pid(self) -> int:
        assert self.process is not None  # noqa: S101 — narrowing: started
        return self.process.pid

    async def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self._log = log
        self.process = await start_child(
            self.name,
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdout=asyncio.subprocess.PIPE if self.on_line else log,
            stderr=log,
        )
        if self.on_line is not None:
            self._reader = asyncio.create_task(self._read_lines(log))

    async def _read_lines(self, log: BinaryIO) -> None:
        assert self.process is not None  # noqa: S101 — narrowing: started
        assert self.process.stdout is not None  # noqa: S101 — started with stdout=PIPE
        callback = self.on_line
        assert callback is not None  # noqa: S101
        while line := await self.process.stdout.readline():
            callback(time.time(), line.decode("utf-8", "replace"))
            log.write(line)

    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def tail(self, lines: int = 20) -> str:
        return log_tail(self.log_path, lines)

    async def wait_http(
        self, port: int, path: str, *, expect: int | None, timeout_s: float
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.running():
                raise CliError(f"{self.name} exited before it was ready:\n{self.tail()}")
            status = await http_status("127.0.0.1", port, path)
            if status is not None and (expect is None or status == expect):
                return
            await asyncio.sleep(0.1)
        raise CliError(f"{self.name} was not ready within {timeout_s:g} s:\n{self.tail()}")

    def cpu_seconds(self) -> float:
        """User + system CPU time of this process so far (its threads included)."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return 0.0
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS

    def sample_rss(self) -> float:
        """Peak resident memory so far (VmHWM), in MB; remembered across samples."""
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.rss_peak_mb = max(self.rss_peak_mb, int(line.split()[1]) / 1024)
        return self.rss_peak_mb

    async def stop(self, timeout_s: float = 15.0) -> None:
        if self.process is None:
            return
        if self.process.returncode is None:
            self.sample_rss()
        await stop_child(self.process, timeout_s=timeout_s)
        if self._reader is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._reader, 2.0)
        if self._log is not None:
            self._log.close()
            self._log = None
