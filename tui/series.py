"""A chart series that never grows past a fixed number of points, so redrawing it costs the same on any run."""

from __future__ import annotations

DEFAULT_CAPACITY = 240  # more points than a wide terminal has columns


class BoundedSeries:
    """(x, y) points; once `capacity` are stored, neighbours merge pairwise into their means.

    Each stored point then stands for twice as many raw points as before, and new points are averaged
    in groups of that size, so the series keeps an even resolution over the whole run.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 2:
            raise ValueError("capacity must be at least 2")
        self.capacity = capacity
        self.xs: list[float] = []
        self.ys: list[float] = []
        self._group = 1  # raw points per stored point
        self._pending: list[tuple[float, float]] = []

    def __len__(self) -> int:
        return len(self.xs) + (1 if self._pending else 0)

    def append(self, x: float, y: float) -> None:
        self._pending.append((x, y))
        if len(self._pending) < self._group:
            return
        self._store(*_mean(self._pending))
        self._pending = []

    def points(self) -> tuple[list[float], list[float]]:
        """Stored points plus the mean of the not yet complete group, so the newest value always shows."""
        if not self._pending:
            return list(self.xs), list(self.ys)
        x, y = _mean(self._pending)
        return [*self.xs, x], [*self.ys, y]

    def _store(self, x: float, y: float) -> None:
        self.xs.append(x)
        self.ys.append(y)
        if len(self.xs) >= self.capacity:
            self.xs = _pairwise_means(self.xs)
            self.ys = _pairwise_means(self.ys)
            self._group *= 2


def _mean(points: list[tuple[float, float]]) -> tuple[float, float]:
    return sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)


def _pairwise_means(values: list[float]) -> list[float]:
    merged = [(values[i] + values[i + 1]) / 2 for i in range(0, len(values) - 1, 2)]
    if len(values) % 2:
        merged.append(values[-1])
    return merged
