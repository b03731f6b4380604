"""One child process of a chaos system, managed by its pid, on the tools' process runner.

`ManagedProcess` starts a child on a port of its own with its output in a log file, waits until
it is ready (an HTTP path answering 200, or just the port listening), and ends it the ways a test
needs: SIGTERM with an exit-code check, SIGKILL like a crash, a restart on the same port, and
SIGSTOP / SIGCONT to freeze and thaw it. Every signal goes to that child's pid and nowhere else.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from orderflow_devtools.processes import SPAWN_OPTIONS, describe_exit, log_tail
from orderflow_testkit.waiting import ConditionTimeout, port_is_listening, wait_for_value


class ManagedProcess:
    """One child process on a port of its own, logging (stdout and stderr) to `log_path`.

    ready_path: the HTTP path that answers 200 once it is ready (None: the port listens).
    Every signal goes to this child's pid and nowhere else.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        port: int,
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path,
        ready_path: str | None = "/health/ready",
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.port = port
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.ready_path = ready_path
        self.exit_codes: list[int] = []
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._frozen = False

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.starts += 1
        self.cwd.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"=== {self.name}: start #{self.starts}\n".encode())
            log.flush()
            # The runner's options: a session of its own, so a Ctrl-C reaches pytest only.
            self._process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                **SPAWN_OPTIONS,
            )

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until it answers ready; fails at once, with its log, if it exits meanwhile."""

        async def probe(client: httpx.AsyncClient) -> bool:
            if not self.running:
                how = describe_exit(self._require().poll())
                raise AssertionError(
                    f"{self.name} exited ({how}) before it was ready:\n{self.tail()}"
                )
            if self.ready_path is None:
                return port_is_listening(self.port)
            try:
                response = await client.get(self.url + self.ready_path)
            except httpx.TransportError:
                return False
            return response.status_code == 200

        async with httpx.AsyncClient(timeout=2.0) as client:
            try:
                await wait_for_value(
                    lambda: probe(client),
                    bool,
                    timeout_s=timeout_s,
                    interval_s=0.1,
                    what=f"{self.name} ready",
                )
            except ConditionTimeout as exc:
                raise ConditionTimeout(f"{exc}\n{self.tail()}") from None

    async def start_ready(self, timeout_s: float = 60.0) -> None:
        self.start()
        await self.wait_ready(timeout_s)

    async def terminate(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        """Send `sig` and return the exit code; SIGKILL and fail when it does not exit in time."""
        process = self._require()
        if process.poll() is None:
            process.send_signal(sig)
            if self._frozen:
                self.thaw()  # a stopped process acts on its signals only once continued
        try:
            code = await asyncio.to_thread(process.wait, timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            code = await asyncio.to_thread(process.wait)
            self.exit_codes.append(code)
            raise AssertionError(
                f"{self.name} did not exit within {timeout_s:g} s of {sig.name}; killed:\n"
                + self.tail()
            ) from None
        self.exit_codes.append(code)
        return code

    async def stop(self, timeout_s: float = 30.0) -> str | None:
        """SIGTERM; None when it exited 0 in time, else what went wrong."""
        if not self.running:
            return None
        try:
            code = await self.terminate(signal.SIGTERM, timeout_s)
        except AssertionError as exc:
            return str(exc).splitlines()[0]
        return None if code == 0 else f"{self.name} exited {code} after SIGTERM"

    def kill(self) -> int:
        """SIGKILL: no clean-up at all, like a crash or the OOM killer."""
        process = self._require()
        process.kill()
        code = process.wait()
        self._frozen = False
        self.exit_codes.append(code)
        return code

    async def restart(self, timeout_s: float = 60.0) -> None:
        """Start it again (on the same port) once it is not running, and wait until ready."""
        if self.running:
            raise RuntimeError(f"{self.name} is still running")
        await self.start_ready(timeout_s)

    def freeze(self) -> None:
        """SIGSTOP: the process keeps its sockets but answers nothing."""
        os.kill(self._require().pid, signal.SIGSTOP)
        self._frozen = True

    def thaw(self) -> None:
        """SIGCONT after `freeze()`."""
        os.kill(self._require().pid, signal.SIGCONT)
        self._frozen = False

    def tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines, missing=f"({self.name}: no log)")

    def _require(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._process
