"""One picture for the annex: documents per month, stacked by outcome (matplotlib, Agg, no display)."""

from __future__ import annotations

from pathlib import Path

from gateway.reports.content import CHART_CAPTION, OUTCOME_SHORT
from gateway.reports.figures import OUTCOMES, GatewayFigures

COLOURS = {"sign": "#1f5fa8", "pass": "#3a9a4a", "reject": "#d08a1e", "block": "#b3262b"}


def render_chart(g: GatewayFigures, dst: Path, *, font: Path | None = None, dpi: int = 150) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib import font_manager
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in threads

    prop = legend_prop = None
    if font is not None and Path(font).exists():
        prop = font_manager.FontProperties(fname=str(font))
        legend_prop = font_manager.FontProperties(fname=str(font), size=8)
    months = list(g.by_month)
    labels = [f"{m[5:]}/{m[2:4]}" for m in months]
    fig = Figure(figsize=(6.3, 2.9), dpi=dpi)
    ax = fig.add_subplot(1, 1, 1)
    bottom = [0] * len(months)
    for o in (x.value for x in OUTCOMES):
        vals = [g.by_month[m][o] for m in months]
        ax.bar(labels, vals, bottom=bottom, color=COLOURS[o], label=OUTCOME_SHORT[o], width=0.65)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel("Số văn bản", fontproperties=prop)
    ax.set_title(CHART_CAPTION, fontproperties=prop, fontsize=10)
    ax.yaxis.get_major_locator().set_params(integer=True)
    if max(bottom, default=0) == 0:
        ax.set_ylim(0, 1)
        ax.text(0.5, 0.5, "Không có văn bản trong kỳ", transform=ax.transAxes, ha="center", va="center",
                fontproperties=prop, color="#666666")
    ax.legend(prop=legend_prop, ncol=4, loc="upper left", frameon=False)
    for lab in ax.get_xticklabels() + ax.get_yticklabels():
        if prop is not None:
            lab.set_fontproperties(prop)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(dst, format="png")
    return dst
