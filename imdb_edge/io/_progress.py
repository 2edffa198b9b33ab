"""Progress on stderr for long commands, throttled.

On a terminal one line is redrawn at most 4 times a second; into a file or pipe (``--progress
on``) a plain line is written at most every 10 seconds, never one per batch. With a known
total (bytes of a regular input file, or records counted by an earlier pass) the line has
the percentage and the time left.
"""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, what: str, *, total: int | None = None, unit: str = "texts",
                 enabled: bool = True, stream=None) -> None:
        self.what, self.total, self.unit, self.enabled = what, total, unit, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(self.stream is not None and getattr(self.stream, "isatty", None)
                        and self.stream.isatty())
        self.interval = 0.25 if self.tty else 10.0
        self.start = self.last = time.monotonic()
        self.count = 0
        self.done = 0          # progress towards ``total`` (bytes, or the count)
        self.drawn = False

    def update(self, count: int, done: int | None = None) -> None:
        self.count = count
        self.done = count if done is None else done
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.start, 1e-9)
        line = f"{self.what}: {self.count:,} {self.unit}, {self.count / elapsed:,.0f}/s"
        if self.total:
            share = min(self.done / self.total, 1.0)
            left = elapsed * (1 - share) / share if share > 0 else 0.0
            line += f", {100 * share:.0f}%, {left:.0f} s left"
        try:
            if self.tty:
                self.stream.write("\r" + line.ljust(79)[:79])
            else:
                self.stream.write(line + "\n")
            self.stream.flush()
            self.drawn = True
        except (OSError, ValueError):       # stderr closed: progress is not worth failing for
            self.enabled = False

    def close(self) -> None:
        """The final figures, once."""
        if self.enabled:
            self.done = self.total or self.count
            self._draw(time.monotonic())
            if self.tty:
                try:
                    self.stream.write("\n")
                except (OSError, ValueError):
                    pass
