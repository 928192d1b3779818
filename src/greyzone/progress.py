"""Progress bars and stage timings shared by ``greyzone run``, ``evaluate`` and ``bench-curation``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@dataclass
class Reporter:
    """Rich progress bars on stderr and stage timings in seconds (silent when ``enabled`` is False)."""

    enabled: bool = True
    console: Console = field(default_factory=lambda: Console(stderr=True))
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str, total: int | None = None, label: str | None = None
              ) -> Iterator[Callable[[int], None]]:
        """Time the block as stage ``name`` (its bar reads ``label``, default ``name``); yields ``tick(n)``,
        which advances the bar by ``n``."""
        start = time.perf_counter()
        if not self.enabled:
            yield lambda _n: None
        else:
            with Progress(
                TextColumn("[bold]{task.description:<10}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=False,
            ) as bar:
                task = bar.add_task(label or name, total=total)
                yield lambda n: bar.advance(task, n)
                bar.update(task, completed=total or 1, total=total or 1)
        self.timings[name] = round(time.perf_counter() - start, 2)

    def log(self, msg: str) -> None:
        if self.enabled:
            self.console.print(msg)
