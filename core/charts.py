"""Charts drawn once as SVG (matplotlib) and used twice: on the dashboard and in PDF reports."""

from __future__ import annotations

import io
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
