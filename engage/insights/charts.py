"""Charts as geometry for a server-rendered SVG (``templates/insights/_chart.html``):
horizontal bars, one row per group, one bar per series, with a title and a
description for assistive technology and the figures in a table beside it.

::

    chart = bar_chart(
        chart_id="coverage-chart",
        title="Contacted in the last 12 months, by country",
        labels=["Kenya", "Uganda"],
        series=["3 months", "12 months"],
        values=[[0.25, 0.5], [0.0, 1.0]],
        percent=True,
    )
    chart.description        # "Kenya: 3 months 25%, 12 months 50%. Uganda: ..."
    chart.rows[0].bars[1]    # Bar(x=..., y=..., width=..., height=..., text="50%")

No script draws anything (the Content-Security-Policy allows none inline): the
template writes these numbers into ``<rect>`` and ``<text>`` elements. The SVG is
``role="img"`` named by its ``<title>`` and described by its ``<desc>``, which says
every figure drawn (or the first ``max_rows`` groups, saying how many are left out:
the table has them all).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from engage.i18n import _

#: Series colours, each readable against white and told apart in the legend.
PALETTE = ("#1f3a5f", "#b5482a", "#1e6b3a", "#6b4c9a", "#9a5b13", "#5b6473")
WIDTH = 480
LABEL_WIDTH = 130
#: Room on the right for a bar's value.
VALUE_ROOM = 44
BAR_HEIGHT = 13
ROW_GAP = 10
#: A legend line's height, and the width of a character of its text (about).
LEGEND_LINE = 18
CHAR_WIDTH = 6.6
AXIS_HEIGHT = 22
LABEL_MAX = 21


@dataclass(frozen=True)
class Series:
    label: str
    colour: str
    #: Where the legend draws it.
    x: float
    y: float


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    #: The value in words, drawn after the bar ("45%", "120").
    text: str
    text_x: float
    text_y: float


@dataclass(frozen=True)
class ChartRow:
    label: str
    #: Where the label's text sits (right-aligned at the plot's left edge).
    label_y: float
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class Tick:
    x: float
    text: str


@dataclass(frozen=True)
class BarChart:
    id: str
    title: str
    description: str
    width: int
    height: int
    plot_x: float
    plot_top: float
    plot_bottom: float
    series: tuple[Series, ...]
    rows: tuple[ChartRow, ...]
    ticks: tuple[Tick, ...]

    @property
    def empty(self) -> bool:
        return not self.rows


def bar_chart(
    *,
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[str],
    values: Sequence[Sequence[float | None]],
    percent: bool = False,
    max_rows: int = 20,
    width: int = WIDTH,
) -> BarChart:
    """Bars for ``values[row][series]`` (None: no bar, "no figure"); shares (0..1)
    when ``percent``, else counts."""
    shown = list(zip(labels, values, strict=True))[:max_rows]
    left_out = len(labels) - len(shown)
    plot_x = float(LABEL_WIDTH)
    plot_width = width - LABEL_WIDTH - VALUE_ROOM
    legend = _legend(series, width) if len(series) > 1 else ()
    top = (max(s.y for s in legend) + LEGEND_LINE + 4) if legend else 8.0
    scale, step = _axis([v for _l, row in shown for v in row if v is not None], percent)
    row_height = len(series) * BAR_HEIGHT + ROW_GAP
    rows = []
    for index, (label, row) in enumerate(shown):
        y = top + index * row_height
        bars = []
        for number, value in enumerate(row):
            if value is None:
                continue
            length = plot_width * (value / scale if scale else 0.0)
            bar_y = y + number * BAR_HEIGHT
            bars.append(
                Bar(
                    x=plot_x,
                    y=bar_y,
                    width=round(max(length, 0.0), 1),
                    height=BAR_HEIGHT - 2,
                    colour=PALETTE[number % len(PALETTE)],
                    text=_figure(value, percent),
                    text_x=round(plot_x + length + 4, 1),
                    text_y=bar_y + BAR_HEIGHT - 3,
                )
            )
        rows.append(ChartRow(_short(label), y + len(series) * BAR_HEIGHT / 2 + 4, tuple(bars)))
    bottom = top + len(shown) * row_height
    ticks = tuple(
        Tick(round(plot_x + plot_width * n * step / scale, 1), _figure(n * step, percent))
        for n in range(round(scale / step) + 1)
    )
    return BarChart(
        id=chart_id,
        title=title,
        description=_describe(shown, series, percent, left_out),
        width=width,
        height=int(bottom + AXIS_HEIGHT),
        plot_x=plot_x,
        plot_top=top,
        plot_bottom=bottom,
        series=legend,
        rows=tuple(rows),
        ticks=ticks,
    )


def _legend(series: Sequence[str], width: int) -> tuple[Series, ...]:
    """Each series' swatch and name, in lines that fit the width."""
    found = []
    x, y = 4.0, 4.0
    for number, name in enumerate(series):
        room = 14 + len(name) * CHAR_WIDTH + 14
        if x > 4.0 and x + room > width:
            x, y = 4.0, y + LEGEND_LINE
        found.append(Series(name, PALETTE[number % len(PALETTE)], x, y))
        x += room
    return tuple(found)


def _figure(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.0f}%"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _axis(values: list[float], percent: bool) -> tuple[float, float]:
    """The axis's end and its step: quarters of 100% for shares; for counts a round
    step (1, 2 or 5 times a power of ten, at least 1) giving at most five ticks."""
    if percent:
        return 1.0, 0.25
    largest = max(values, default=0.0)
    raw = max(largest / 4, 1.0)
    power = 10 ** math.floor(math.log10(raw))
    step = next(float(m * power) for m in (1, 2, 5, 10) if m * power >= raw)
    return max(step * math.ceil(largest / step), step), step


def _short(label: str) -> str:
    return label if len(label) <= LABEL_MAX else label[: LABEL_MAX - 1] + "…"


def _describe(
    shown: list[tuple[str, Sequence[float | None]]],
    series: Sequence[str],
    percent: bool,
    left_out: int,
) -> str:
    """Every figure drawn, in words."""
    if not shown:
        return _("No figures to show.")
    parts = []
    for label, row in shown:
        figures = [
            f"{name} {_figure(value, percent) if value is not None else _('no figure')}"
            for name, value in zip(series, row, strict=True)
        ]
        parts.append(f"{label}: {', '.join(figures)}.")
    if left_out:
        parts.append(_("%(n)s more in the table.", n=left_out))
    return " ".join(parts)
