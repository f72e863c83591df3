"""The chart geometry (engage.insights.charts): bars in proportion, a description that
says every figure drawn, axis ticks, a legend that fits."""

from __future__ import annotations

import pytest

from engage.insights.charts import LABEL_WIDTH, VALUE_ROOM, WIDTH, bar_chart


def test_bars_in_proportion_and_described():
    chart = bar_chart(
        chart_id="c",
        title="Contacted",
        labels=["Kenya", "Uganda"],
        series=["3 months", "12 months"],
        values=[[0.25, 0.5], [None, 1.0]],
        percent=True,
    )
    plot = WIDTH - LABEL_WIDTH - VALUE_ROOM
    kenya, uganda = chart.rows
    assert [b.width for b in kenya.bars] == [
        pytest.approx(plot / 4, abs=0.1),
        pytest.approx(plot / 2, abs=0.1),
    ]
    assert [b.text for b in kenya.bars] == ["25%", "50%"]
    assert len(uganda.bars) == 1 and uganda.bars[0].width == pytest.approx(plot, abs=0.1)
    assert chart.description == (
        "Kenya: 3 months 25%, 12 months 50%. Uganda: 3 months no figure, 12 months 100%."
    )
    assert [t.text for t in chart.ticks] == ["0%", "25%", "50%", "75%", "100%"]
    assert kenya.bars[0].colour != kenya.bars[1].colour
    assert chart.height > chart.plot_bottom > chart.plot_top > 0


def test_count_axis_has_round_ticks():
    chart = bar_chart(
        chart_id="c", title="t", labels=["a", "b"], series=["People"], values=[[44.0], [7.0]]
    )
    assert [t.text for t in chart.ticks] == ["0", "20", "40", "60"]
    assert chart.series == ()  # one series: no legend
    tiny = bar_chart(chart_id="c", title="t", labels=["a"], series=["n"], values=[[0.0]])
    assert [t.text for t in tiny.ticks] == ["0", "1"] and tiny.rows[0].bars[0].width == 0


def test_many_rows_are_cut_and_said_so_long_labels_shortened():
    labels = [f"Country with a long name {n}" for n in range(25)]
    chart = bar_chart(
        chart_id="c",
        title="t",
        labels=labels,
        series=["n"],
        values=[[float(n)] for n in range(25)],
        max_rows=20,
    )
    assert len(chart.rows) == 20
    assert chart.description.endswith("5 more in the table.")
    assert all(len(r.label) <= 21 for r in chart.rows) and chart.rows[0].label.endswith("…")
    assert "Country with a long name 0: n 0." in chart.description  # the full name


def test_the_legend_wraps_to_fit():
    chart = bar_chart(
        chart_id="c",
        title="t",
        labels=["a"],
        series=["Never contacted", "Not engaged for 18 months", "No working email", "Any"],
        values=[[1.0, 2.0, 3.0, 4.0]],
    )
    assert all(s.x + 14 < WIDTH for s in chart.series)
    assert len({s.y for s in chart.series}) >= 2
    assert chart.plot_top > max(s.y for s in chart.series)


def test_nothing_to_draw():
    chart = bar_chart(chart_id="c", title="t", labels=[], series=["n"], values=[])
    assert chart.empty and chart.description == "No figures to show."
