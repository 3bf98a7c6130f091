"""Live progress of ``selbench run``: a rich display on a terminal, plain lines in a log.

A long run is never silent: for each stage, the cells done of total, the current cell, the
elapsed time and an ETA (mean seconds per finished cell times the cells left). When stderr is
not a terminal (CI logs, ``nohup``) every event is one timestamped line instead of a redrawn
display, so a log shows where a run was when it stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from selbench.pipeline.events import RunEvents


@dataclass
class _Stage:
    total: int
    done: int = 0
    failed: int = 0
    seconds: list[float] = field(default_factory=list)

    def eta(self) -> float | None:
        if not self.seconds or self.done >= self.total:
            return None
        return sum(self.seconds) / len(self.seconds) * (self.total - self.done)


class PlainProgress(RunEvents):
    """One line per event on ``console`` (stderr), prefixed with the elapsed time."""

    def __init__(self, console: Console, title: str) -> None:
        self.console, self.title, self.t0 = console, title, time.perf_counter()
        self.stages: dict[str, _Stage] = {}

    def _line(self, text: str) -> None:
        self.console.print(f"[{time.perf_counter() - self.t0:6.0f}s] {text}", markup=False, highlight=False,
                           soft_wrap=True)

    def stage(self, name: str, total: int) -> None:
        self.stages[name] = _Stage(total)
        self._line(f"{self.title}: {name}: {total} to do")

    def start(self, stage: str, label: str) -> None:
        st = self.stages.get(stage)
        where = f" {st.done + 1}/{st.total}" if st else ""
        self._line(f"{stage}{where} start {label}")

    def done(self, stage: str, label: str, ok: bool, seconds: float, reused: bool = False) -> None:
        st = self.stages.setdefault(stage, _Stage(0))
        st.done += 1
        st.failed += not ok
        if not reused:
            st.seconds.append(seconds)
        eta = st.eta()
        how = "reused" if reused else ("done" if ok else "FAILED")
        self._line(f"{stage} {st.done}/{st.total} {how} {label} ({seconds:.1f} s)"
                   + (f", ETA {eta:.0f} s" if eta is not None else ""))

    def note(self, message: str) -> None:
        self._line(message)


class LiveProgress(RunEvents):
    """A rich display: one bar per stage (done/total, elapsed, ETA) naming the current cell."""

    def __init__(self, console: Console, title: str) -> None:
        self.title = title
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
                                 transient=False)
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> "LiveProgress":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def stage(self, name: str, total: int) -> None:
        self.tasks[name] = self.progress.add_task(f"{name}", total=max(total, 1) if total else None)

    def start(self, stage: str, label: str) -> None:
        if stage in self.tasks:
            self.progress.update(self.tasks[stage], description=f"{stage}: {escape(label)}")

    def done(self, stage: str, label: str, ok: bool, seconds: float, reused: bool = False) -> None:
        if stage in self.tasks:
            self.progress.advance(self.tasks[stage])
        if not ok:
            self.progress.console.print(f"[red]{stage} failed:[/] {escape(label)}")

    def note(self, message: str) -> None:
        task = self.tasks.get("evaluate")
        if task is not None:
            self.progress.update(task, description=f"evaluate: {escape(message)}"[:160])
