"""What a benchmark hands back to the runner: its figures next to a baseline.

::

    Result(
        name="healthz",
        measure="requests/s",
        figures={"requests/s": 850.0, "p50_ms": 9.1},
        baseline={"requests/s": 4200.0, "p50_ms": 1.9},
        parameters={"connections": 16, "seconds": 3.0, "database": "sqlite"},
    ).ratio                      # 850 / 4200 = 0.2
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Result:
    name: str
    #: The figure the ratio compares (a key of both ``figures`` and ``baseline``);
    #: higher is better for it.
    measure: str
    #: Engage's figures.
    figures: dict[str, float]
    #: The same figures for the baseline, measured in the same run on the same machine.
    baseline: dict[str, float]
    #: Sizes, concurrency, database: everything needed to run it again.
    parameters: dict[str, Any]
    #: Anything a reader should know (errors seen, messages not delivered).
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """Engage / baseline for ``measure`` (1.0 = as fast as the baseline)."""
        base = self.baseline.get(self.measure, 0.0)
        return round(self.figures.get(self.measure, 0.0) / base, 4) if base else 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        return data
