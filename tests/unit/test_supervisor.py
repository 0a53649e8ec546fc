"""`make run` starts a stopped service again, with a pause that grows while it
keeps crashing and shrinks once it runs."""

from __future__ import annotations

import subprocess
import sys

from scripts.run import Supervisor


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def spawn(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code])


def test_a_killed_service_is_started_again_and_a_crash_loop_waits_longer(caplog) -> None:
    clock, processes = Clock(), {"rasa": spawn("import time; time.sleep(30)")}
    started: list[str] = []

    def start_rasa() -> None:
        started.append("rasa")
        processes["rasa"] = spawn("raise SystemExit(3)")  # it crashes at once

    sup = Supervisor({"rasa": start_rasa}, processes, clock=clock, min_pause=1, max_pause=8, stable_after=60)
    sup.watch()
    assert started == []  # running
    processes["rasa"].kill()
    processes["rasa"].wait()
    sup.watch()  # seen stopped: due in 1 s
    assert started == [] and "starting it again in 1 s" in caplog.text
    clock.now = 1.0
    sup.watch()
    assert started == ["rasa"]
    pauses = []
    for _ in range(4):  # it keeps crashing right after each start: 2, 4, 8, 8
        processes["rasa"].wait()
        sup.watch()
        pause = sup._due["rasa"] - clock.now
        pauses.append(pause)
        clock.now += pause
        sup.watch()
    assert pauses == [2, 4, 8, 8] and sup.restarts["rasa"] == 5
    processes["rasa"] = spawn("import time; time.sleep(30)")
    clock.now += 120  # ran long enough: the next stop waits the minimum again
    processes["rasa"].kill()
    processes["rasa"].wait()
    sup.watch()
    assert sup._due["rasa"] - clock.now == 1
