"""The privacy / utility / fairness trade-off chart: drawn once as SVG, for the page and the PDF report."""

from __future__ import annotations

from audit.metrics.catalog import SMALL_GROUP_ROWS  # the dashboard's "too small to trust" mark
from core.charts import STATUS_COLOURS, figure_svg, plt  # plt: Agg backend, imported on first use

PANELS = (
    ("accuracy", "accuracy on evaluation rows", "higher is better"),
    ("FAIR-03", "FAIR-03 equalized odds difference", "lower is better"),
    ("PRIV-01", "PRIV-01 membership-inference advantage", "lower is better"),
)
VARIANT = STATUS_COLOURS[None]
PARENT = "#5f6b7a"
GROUP_COLOURS = ("#b3261e", "#2456a6", "#1f7a3a", "#a86b00", "#6a3d9a", "#00838f", "#8d6e63", "#c2185b")


def _epsilon_axis(ax, epsilons: list[float]) -> None:
    ax.set_xscale("log")
    ax.set_xticks(epsilons, [f"{e:.2g}" for e in epsilons])
    ax.minorticks_off()
    ax.set_xlabel("ε spent (log scale)")
    ax.spines[["top", "right"]].set_visible(False)


def tradeoff_chart(points: list[dict], reference: dict) -> str:
    """Return a 2×2 SVG: ε against accuracy, FAIR-03 and PRIV-01, and the accuracy each group lost.

    `points` are the DP variants ({"epsilon", "accuracy", "FAIR-03", "PRIV-01", "groups"}),
    `reference` the non-private parent (dashed lines). The last panel plots, per sensitive group,
    the parent's accuracy minus the variant's, so a group that pays more for privacy stands
    out; each attribute's smallest group is drawn thick, groups under 30 rows dotted.
    """
    epsilons = sorted({p["epsilon"] for p in points})
    fig, axes = plt.subplots(2, 2, figsize=(10.5, 7.5))
    for ax, (key, title, better) in zip(axes.flat, PANELS, strict=False):
        series = [(p["epsilon"], p[key]) for p in points if p.get(key) is not None]
        if series:
            ax.plot(*zip(*series, strict=True), "o-", color=VARIANT, label="DP variants")
        if reference.get(key) is not None:
            ax.axhline(reference[key], color=PARENT, linestyle="--", label=f"non-private parent ({reference[key]:.3f})")
        ax.set_title(f"{title}\n({better})", fontsize=10)
        _epsilon_axis(ax, epsilons)
        ax.legend(fontsize=8, loc="best")
    _group_panel(axes[1, 1], points, reference, epsilons)
    fig.tight_layout()
    return figure_svg(fig)


def _group_panel(ax, points: list[dict], reference: dict, epsilons: list[float]) -> None:
    ax.set_title("accuracy lost vs the parent, per sensitive group\n(higher = the group pays more for privacy)",
                 fontsize=10)
    _epsilon_axis(ax, epsilons)
    groups = reference.get("groups") or {}
    if not groups:
        ax.text(0.5, 0.5, "waiting for the parent's audit", ha="center", va="center", transform=ax.transAxes)
        return
    ax.axhline(0, color=PARENT, linestyle="--", linewidth=1)
    colour = iter(GROUP_COLOURS * 4)
    for attribute, table in groups.items():
        smallest = min(table, key=lambda g: table[g]["n"])
        for group, ref in table.items():
            series = [(p["epsilon"], ref["accuracy"] - p["groups"][attribute][group]["accuracy"]) for p in points
                      if group in (p.get("groups") or {}).get(attribute, {})]
            if not series:
                continue
            tag = ", smallest" if group == smallest and len(table) > 1 else ""
            ax.plot(*zip(*series, strict=True), marker="o", color=next(colour),
                    linewidth=2.8 if tag else 1.2, linestyle=":" if ref["n"] < SMALL_GROUP_ROWS else "-",
                    label=f"{attribute}={group} (n={ref['n']}{tag})")
    ax.set_ylabel("parent accuracy − variant accuracy")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
