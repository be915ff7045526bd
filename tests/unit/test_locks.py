"""helpers.cluster.locks: a second process waits for the first, then finds the work done."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from helpers.cluster.locks import file_lock
from helpers.cluster.progress import Progress


def test_the_second_holder_waits_for_the_first(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "build.lock"
    order: list[str] = []
    started = threading.Event()

    def first() -> None:
        with file_lock(lock, "building"):
            started.set()
            time.sleep(1.2)
            order.append("first done")

    t = threading.Thread(target=first)
    t.start()
    started.wait(5)
    with file_lock(lock, "building", Progress(quiet=True)):
        order.append("second in")
    t.join()
    assert order == ["first done", "second in"]
