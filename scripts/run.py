"""`make run`: start the assistant and its local chat page; a service that
stops is started again (with a growing pause if it keeps stopping), and the
log says so. Ctrl-C stops everything. On a server, systemd does this job
(deploy/systemd/)."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from scripts.stack import Stack, load_env_file

logger = logging.getLogger("nabo.run")


@dataclass
class Supervisor:
    """Restarts stopped processes: after `min_pause` seconds, doubling up to
    `max_pause` while a process keeps stopping within `stable_after` seconds
    of its start (a crash loop is not hammered), back to `min_pause` once it
    has run that long."""

    starters: dict[str, Callable[[], None]]
    processes: dict[str, subprocess.Popen]
    clock: Callable[[], float] = time.monotonic
    min_pause: float = 1.0
    max_pause: float = 60.0
    stable_after: float = 60.0
    restarts: dict[str, int] = field(default_factory=dict)
    _pause: dict[str, float] = field(default_factory=dict)
    _started: dict[str, float] = field(default_factory=dict)
    _due: dict[str, float] = field(default_factory=dict)

    def watch(self) -> None:
        now = self.clock()
        for name in self.starters:
            self._started.setdefault(name, now)
            proc = self.processes.get(name)
            if proc is not None and proc.poll() is None:
                continue
            if name not in self._due:
                quick = now - self._started[name] < self.stable_after
                pause = min(self._pause.get(name, self.min_pause / 2) * 2, self.max_pause) if quick else self.min_pause
                self._pause[name], self._due[name] = pause, now + pause
                code = proc.returncode if proc is not None else None
                logger.warning("%s stopped (exit code %s); starting it again in %.0f s", name, code, pause)
            elif now >= self._due[name]:
                del self._due[name]
                self.starters[name]()
                self._started[name] = self.clock()
                self.restarts[name] = self.restarts.get(name, 0) + 1
                logger.warning("%s started again (restart %d)", name, self.restarts[name])


def main() -> int:
    load_env_file()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stack = Stack.from_env()
    print("Starting the action server, Rasa and the chat page (Rasa needs 15-60 s to load)...", flush=True)
    try:
        stack.start(all_workers=False)
    except (RuntimeError, TimeoutError) as exc:
        print(f"Could not start: {exc}", file=sys.stderr)
        stack.stop()
        return 1
    more = stack.rasa_workers - 1
    print(f"\nReady. Chat page: {stack.webchat_url}\nRasa HTTP API: {stack.rasa_url} (localhost only)\n"
          + (f"{more} more Rasa worker(s) loading on the next port(s); they join by themselves.\n" if more else "")
          + f"Logs: {stack.log_dir}\nPress Ctrl-C to stop.", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    supervisor = Supervisor({k: v for k, v in stack.starters().items() if k in stack.processes}, stack.processes)
    try:
        while True:
            supervisor.watch()
            time.sleep(1)
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
