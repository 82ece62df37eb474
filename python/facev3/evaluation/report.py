"""An Evaluation as one self-contained HTML page: the ROC curve, the two score histograms, the numbers
and the photos without a face.

The plots are PNGs drawn on matplotlib's Agg canvas (no pyplot, so no global state or GUI backend)
and embedded as base64 data URIs; the page has no scripts and links to nothing, so it opens offline
and can be mailed as it is. Formats: AUC and thresholds with 4 decimals, rates as percentages with
2 decimals, the FARs of the TAR@FAR table as plain fractions (0.001). matplotlib comes with the
`eval` extra (pip install 'facev3[eval]') and is imported only when a page is written.
"""

import base64
import html
import io
import math
from pathlib import Path

import numpy as np

from facev3.evaluation.metrics import Evaluation, ScoreStats, TarAtFar

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; color: #222; background: #fff; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5rem; }
h1 { font-size: 1.5rem; margin: 0 0 .3rem; } h2 { font-size: 1.15rem; margin: 2rem 0 .5rem; }
.summary { color: #444; margin: 0 0 1rem; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; flex: 1 1 480px; } figure img { width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: .85rem; color: #555; }
table { border-collapse: collapse; margin: .3rem 0; }
th, td { border-bottom: 1px solid #e3e3e3; padding: .25rem .8rem .25rem 0; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: #777; }
"""


def write_html(evaluation: Evaluation, path: Path, title: str) -> None:
    """Writes the page to path (UTF-8), replacing a file there."""
    roc, histograms = _roc_png(evaluation), _histograms_png(evaluation)
    Path(path).write_text(_page(evaluation, title, roc, histograms), encoding="utf-8")


def _page(evaluation: Evaluation, title: str, roc_png: bytes, histograms_png: bytes) -> str:
    e = evaluation
    point = e.at_threshold
    summary = (
        f"{e.same_scores.count} same and {e.different_scores.count} different pairs"
        + (f" ({e.pairs_skipped} left out: a photo without a face)" if e.pairs_skipped else "")
        + f"; faces found in {_percent(e.coverage)} of the photos."
    )
    numbers = [
        ("ROC AUC", f"{e.roc_auc:.4f}"),
        ("EER", f"{_percent(e.eer)} at cosine {e.eer_threshold:.4f}"),
        ("Operating threshold (cosine)", f"{point.threshold:.4f}"),
        ("Accuracy at the threshold", _percent(point.accuracy)),
        ("TAR at the threshold", _percent(point.tar)),
        ("FAR at the threshold", _percent(point.far)),
        ("Face coverage", _percent(e.coverage)),
    ]
    rows = "".join(f"<tr><th>{name}</th><td class=n>{value}</td></tr>" for name, value in numbers)
    tar_rows = "".join(_tar_row(target) for target in e.tar_at_far)
    stats = "".join(
        f"<tr><th>{field}</th>"
        + "".join(f"<td class=n>{_stat(getattr(s, field))}</td>" for s in (e.same_scores, e.different_scores))
        + "</tr>"
        for field in ScoreStats.__dataclass_fields__
    )
    failed = (
        "<table><tr><th>photo</th><th>reason</th></tr>"
        + "".join(f"<tr><td>{html.escape(p.path)}</td><td>{html.escape(p.reason)}</td></tr>" for p in e.failed)
        + "</table>"
        if e.failed
        else "<p class=muted>None: every photo gave a face.</p>"
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<main>
<h1>{html.escape(title)}</h1>
<p class="summary">{html.escape(summary)}</p>
<section class="plots">
<figure><img alt="ROC curve" src="{_data_uri(roc_png)}">
<figcaption>ROC: true-accept rate against false-accept rate (log scale), operating point and EER marked.</figcaption>
</figure>
<figure><img alt="Score histograms" src="{_data_uri(histograms_png)}">
<figcaption>Cosines of same and different pairs (each normalised to area 1), operating threshold dashed.</figcaption>
</figure>
</section>
<h2>Numbers</h2>
<table>{rows}</table>
<h2>TAR at fixed FAR</h2>
<table><tr><th>FAR target</th><th>TAR</th><th>FAR reached</th><th>threshold</th><th></th></tr>{tar_rows}</table>
<h2>Cosine statistics</h2>
<table><tr><th></th><th>same</th><th>different</th></tr>{stats}</table>
<h2>Photos without a face ({len(e.failed)})</h2>
{failed}
</main>
</body>
</html>
"""


def _tar_row(t: TarAtFar) -> str:
    if not t.measurable:
        cells = f"<td class=muted colspan=3>not measurable</td><td>{html.escape(t.reason or '')}</td>"
    else:
        cells = (
            f"<td class=n>{_percent(t.tar)}</td><td class=n>{t.far:.3g}</td><td class=n>{t.threshold:.4f}</td><td></td>"
        )
    return f"<tr><td class=n>{t.far_target:g}</td>{cells}</tr>"


def _roc_png(e: Evaluation) -> bytes:
    figure, axes = _figure()
    # FAR 0 has no place on a log axis: such points sit at the left edge, half a step below 1 / n.
    floor = 0.5 / e.different_scores.count
    far, tar = np.maximum(e.roc.far, floor), e.roc.tar
    axes.plot(far, tar, color="#1f5fa8", lw=1.6, label="ROC")
    for target in e.tar_at_far:
        if target.measurable:
            axes.axvline(target.far_target, color="#999", ls=":", lw=1)
    point = e.at_threshold
    # The EER as an open square, so that an operating point at the same place still shows inside it.
    axes.plot(
        max(e.eer, floor),
        1 - e.eer,
        "s",
        ms=10,
        mfc="none",
        mew=1.8,
        color="#2e8b57",
        clip_on=False,
        zorder=3,
        label=f"EER {_percent(e.eer)}",
    )
    axes.plot(
        max(point.far, floor),
        point.tar,
        "o",
        ms=6,
        color="#d1495b",
        clip_on=False,
        zorder=4,
        label=f"threshold {point.threshold:.3f}: TAR {_percent(point.tar)}, FAR {_percent(point.far)}",
    )
    axes.set_xscale("log")
    axes.set_xlim(floor, 1)
    # The TAR axis starts at the tenth below the best TAR at FAR 0 (where the curve leaves the left
    # edge), so that a good model's curve is not a line along the top.
    lowest = min(math.floor(10 * tar[far == floor].max()) / 10, 1 - e.eer - 0.05, point.tar - 0.05, 0.9)
    axes.set_ylim(max(0.0, lowest), 1.01)
    axes.set_xlabel("false-accept rate (FAR 0 drawn at the left edge)")
    axes.set_ylabel("true-accept rate")
    axes.grid(True, which="both", alpha=0.25)
    axes.legend(loc="lower right", fontsize=8)
    return _png(figure)


def _histograms_png(e: Evaluation) -> bytes:
    figure, axes = _figure()
    bins = np.histogram_bin_edges(e.cosines, bins=60)
    for selected, label, colour in ((e.same, "same", "#2e8b57"), (~e.same, "different", "#d1495b")):
        axes.hist(
            e.cosines[selected],
            bins,
            density=True,
            histtype="stepfilled",
            alpha=0.5,
            color=colour,
            label=f"{label} ({selected.sum()} pairs)",
        )
    axes.axvline(e.threshold, color="#222", ls="--", lw=1.2, label=f"threshold {e.threshold:.3f}")
    axes.set_xlabel("cosine")
    axes.set_ylabel("density")
    axes.legend(fontsize=8)
    return _png(figure)


def _figure():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("the HTML report needs matplotlib: pip install 'facev3[eval]'") from error
    figure = Figure(figsize=(6.4, 4.4), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    # No Software chunk: it would carry matplotlib's web address into the page.
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return buffer.getvalue()


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _percent(rate: float) -> str:
    return f"{100 * rate:.2f} %"


def _stat(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.4f}"
