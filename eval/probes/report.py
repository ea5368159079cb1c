"""A probe's printed lines, and the markdown report they become: the command, the machine, how busy it
was (load average sampled during the run) and the results."""

from __future__ import annotations

import os
import platform
import shlex
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


def say(lines: list[str], text: str = "") -> None:
    """Prints a line and keeps it for the report."""
    print(text, flush=True)
    lines.append(text)


@dataclass
class LoadSampler:
    """Samples the 1-minute load average every few seconds while a probe runs (was the machine busy?)."""

    every: float = 10.0
    samples: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> LoadSampler:
        """Starts sampling in a thread."""

        def loop() -> None:
            while True:
                self.samples.append(os.getloadavg()[0])
                if self._stop.wait(self.every):
                    return

        self._thread = threading.Thread(target=loop, name="load-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> str:
        """Stops sampling; the summary line for the report."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if not self.samples:
            return "load average: not sampled"
        mean = sum(self.samples) / len(self.samples)
        return (
            f"1-minute load average during the run: mean {mean:.2f}, max {max(self.samples):.2f} "
            f"({len(self.samples)} samples; {os.cpu_count()} cores — above ~{os.cpu_count()} means the CPU was shared)"
        )


def machine() -> str:
    """The machine the probe ran on: cores, memory, Python, OS."""
    memory = ""
    try:
        kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line)
        memory = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return (
        f"{os.cpu_count()} cores{memory}, {platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def write_markdown(path: Path, title: str, lines: list[str], load: str, began: float) -> None:
    """Writes the report: what produced it, on which machine, how busy it was, then the printed results."""
    command = "python -m " + " ".join(shlex.quote(a) for a in [sys.modules["__main__"].__spec__.name, *sys.argv[1:]])  # type: ignore[union-attr]
    body = [
        f"# {title}",
        "",
        f"- command: `{command}`",
        f"- run: {time.strftime('%Y-%m-%d %H:%M', time.gmtime(began))} UTC, {time.time() - began:.0f} s wall time",
        f"- machine: {machine()}",
        f"- {load}",
        "",
        "```text",
        *lines,
        "```",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(body), encoding="utf-8")
