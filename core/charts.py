"""Charts drawn once as SVG (matplotlib) and used twice: on the dashboard and in PDF reports."""

from __future__ import annotations

import io
import math
import re


class _Pyplot:
    """matplotlib.pyplot, imported (with the Agg backend and mathtext off) when a chart is first drawn.

    Importing matplotlib costs a web process about 40 ms and 30 MB it may never need.
    Labels are user data (group values, feature names): "$x$" in one must print as it is, never be
    parsed as mathtext (a parse error would fail the chart, and with it a scheduled report).
    """

    def __getattr__(self, name: str):
        import matplotlib

        matplotlib.use("Agg")
        matplotlib.rcParams["text.parse_math"] = False
        matplotlib.rcParams["text.usetex"] = False
        import matplotlib.pyplot as pyplot

        return getattr(pyplot, name)


plt = _Pyplot()

STATUS_COLOURS = {"pass": "#1f7a3a", "warn": "#a86b00", "fail": "#b3261e", None: "#2456a6"}


def figure_svg(fig) -> str:
    """Return the matplotlib figure as inline SVG text (no XML prolog) and close it."""
    from matplotlib.text import Text

    for text in fig.findobj(Text):  # in case something changed rcParams after this module set them
        text.set_parse_math(False)
        text.set_usetex(False)
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return re.sub(r"^.*?(<svg)", r"\1", text, flags=re.S)  # drop the XML prolog and doctype


def dimension_chart(scores: dict[str, float | None]) -> str:
    """Return a horizontal bar chart of the six dimension scores (0 = all fail, 1 = all pass)."""
    names = list(scores)
    values = [scores[n] if scores[n] is not None else 0 for n in names]
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(names) + 0.6))
    colours = ["#1f7a3a" if v >= 0.8 else "#a86b00" if v >= 0.5 else "#b3261e" for v in values]
    ax.barh(names[::-1], values[::-1], color=colours[::-1])
    for i, (n, v) in enumerate(zip(names[::-1], values[::-1], strict=True)):
        ax.text(min(v + 0.02, 0.9), i, "n/a" if scores[n] is None else f"{v:.2f}", va="center", fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_xlabel("score (pass = 1, warn = 0.5, fail = 0)")
    ax.spines[["top", "right"]].set_visible(False)
    return figure_svg(fig)


def bar_chart(labels: list[str], values: list[float], *, title: str = "", xlabel: str = "",
              highlight: str | None = None, limit: int = 20) -> str:
    """Return a horizontal bar chart of at most `limit` labelled values, largest first."""
    pairs = sorted(zip(labels, values, strict=True), key=lambda p: -abs(p[1]))[:limit]
    labels, values = [p[0] for p in pairs][::-1], [p[1] for p in pairs][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.32 * len(labels) + 0.8))
    colours = ["#b3261e" if label == highlight else "#2456a6" for label in labels]
    ax.barh([str(label)[:40] for label in labels], values, color=colours)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.spines[["top", "right"]].set_visible(False)
    return figure_svg(fig)


#
# Over time: status bands, sparklines, trend and comparison charts
#

BAND_COLOURS = {"pass": "#e3f1e7", "warn": "#f8edd6", "fail": "#f7e0de"}


def status_bands(pass_threshold: float, warn_threshold: float, direction: str, low: float,
                 high: float) -> list[tuple[float, float, str]]:
    """Return the [(y0, y1, status)] bands that cover low..high: where a value would pass, warn or fail.

    `direction` is "lower" or "higher" (is better); thresholds are inclusive, as the catalog applies them.
    Bands outside low..high are left out, so a chart shows only the ones its values reach.
    """
    if direction == "lower":
        edges = [(-math.inf, pass_threshold, "pass"), (pass_threshold, warn_threshold, "warn"),
                 (warn_threshold, math.inf, "fail")]
    else:
        edges = [(-math.inf, warn_threshold, "fail"), (warn_threshold, pass_threshold, "warn"),
                 (pass_threshold, math.inf, "pass")]
    bands = []
    for y0, y1, status in edges:
        y0, y1 = max(y0, low), min(y1, high)
        if y1 > y0:
            bands.append((y0, y1, status))
    return bands


def value_range(values: list[float | None], *thresholds: float) -> tuple[float, float]:
    """Return a y range that holds every value and threshold, with a margin (a flat series gets one too)."""
    numbers = [v for v in values if v is not None and math.isfinite(v)] + [t for t in thresholds if math.isfinite(t)]
    if not numbers:
        return 0.0, 1.0
    low, high = min(numbers), max(numbers)
    margin = (high - low) * 0.12 or max(abs(high) * 0.1, 0.05)
    return low - margin, high + margin


def sparkline_svg(values: list[float | None], statuses: list[str | None], *, pass_threshold: float,
                  warn_threshold: float, direction: str, titles: list[str] | None = None,
                  width: int = 180, height: int = 40) -> str:
    """Return a small inline SVG of a series over status bands: one dot per value, coloured by its status.

    Drawn without matplotlib (a page shows one per metric); it scales to its box (viewBox). A value of
    None (not applicable, or not finite) leaves a gap; `titles` become each dot's tooltip.
    """
    from django.utils.html import escape

    low, high = value_range(values, pass_threshold, warn_threshold)
    pad = 4

    def y(v: float) -> float:
        return round(pad + (high - v) / (high - low) * (height - 2 * pad), 2)

    n = len(values)

    def x(i: int) -> float:
        return round(pad + (i * (width - 2 * pad) / (n - 1) if n > 1 else (width - 2 * pad) / 2), 2)

    parts = [f'<svg class="sparkline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" preserveAspectRatio="none">']
    for y0, y1, status in status_bands(pass_threshold, warn_threshold, direction, low, high):
        parts.append(f'<rect x="0" y="{y(y1)}" width="{width}" height="{round(y(y0) - y(y1), 2)}" '
                     f'fill="{BAND_COLOURS[status]}"/>')
    segment: list[str] = []
    lines = []
    for i, v in enumerate(values):
        if v is None or not math.isfinite(v):
            lines.append(segment)
            segment = []
        else:
            segment.append(f"{x(i)},{y(v)}")
    lines.append(segment)
    for points in lines:
        if len(points) > 1:
            parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#5f6b7a" stroke-width="1.2"/>')
    for i, (v, status) in enumerate(zip(values, statuses, strict=True)):
        if v is None or not math.isfinite(v):
            continue
        tip = f"<title>{escape(titles[i])}</title>" if titles else ""
        parts.append(f'<circle cx="{x(i)}" cy="{y(v)}" r="2.8" fill="{STATUS_COLOURS.get(status, STATUS_COLOURS[None])}">'
                     f"{tip}</circle>")
    parts.append("</svg>")
    return "".join(parts)


def trend_chart(labels: list[str], values: list[float | None], statuses: list[str | None], *,
                pass_threshold: float, warn_threshold: float, direction: str, title: str = "") -> str:
    """Return a line chart of one metric across audits (oldest first) over its pass/warn/fail bands."""
    low, high = value_range(values, pass_threshold, warn_threshold)
    fig, ax = plt.subplots(figsize=(7, 2.8))
    for y0, y1, status in status_bands(pass_threshold, warn_threshold, direction, low, high):
        ax.axhspan(y0, y1, color=BAND_COLOURS[status], zorder=0)
        ax.text(1.01, (y0 + y1) / 2, status, transform=ax.get_yaxis_transform(), va="center", fontsize=8,
                color=STATUS_COLOURS[status])
    xs = list(range(len(values)))
    shown = [(i, v) for i, v in zip(xs, values, strict=True) if v is not None and math.isfinite(v)]
    if shown:
        ax.plot([i for i, _ in shown], [v for _, v in shown], color="#5f6b7a", linewidth=1.2, zorder=2)
        ax.scatter([i for i, _ in shown], [v for _, v in shown], zorder=3, s=28,
                   color=[STATUS_COLOURS.get(statuses[i], STATUS_COLOURS[None]) for i, _ in shown])
    for i, v in enumerate(values):
        if v is None or not math.isfinite(v):
            ax.text(i, (low + high) / 2, "n/a", ha="center", fontsize=8, color="#7a7f87")
    ax.set_ylim(low, high)
    ax.set_xlim(-0.5, max(len(values) - 0.5, 0.5))
    ax.set_xticks(xs)
    ax.set_xticklabels([str(label)[:24] for label in labels], rotation=30 if len(labels) > 4 else 0, ha="right"
                       if len(labels) > 4 else "center", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return figure_svg(fig)


def grouped_scores_chart(series: dict[str, dict[str, float | None]]) -> str:
    """Return a grouped bar chart of dimension scores: one group per dimension, one bar per audit (`series` key)."""
    names = list(series)
    dimensions = list(dict.fromkeys(d for scores in series.values() for d in scores))
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(dimensions) * max(1, len(names)) ** 0.5 + 1.2))
    height = 0.8 / max(len(names), 1)
    palette = ["#2456a6", "#a86b00", "#1f7a3a", "#7b3fa0", "#b3261e", "#2a8c8c", "#5f6b7a"]
    for k, name in enumerate(names):
        ys = [i - 0.4 + height * (k + 0.5) for i in range(len(dimensions))]
        vals = [series[name].get(d) for d in dimensions]
        ax.barh(ys, [v if v is not None else 0 for v in vals], height=height * 0.9, label=str(name)[:30],
                color=palette[k % len(palette)])
    ax.set_yticks(range(len(dimensions)))
    ax.set_yticklabels([d.replace("_", " ") for d in dimensions])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("score (pass = 1, warn = 0.5, fail = 0)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return figure_svg(fig)
