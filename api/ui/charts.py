"""Accessible inline SVG charts for the HR pages: drawn on the server, no script, no outside chart service.

Each chart is an ``<svg role="img">`` with a ``<title>`` and an ``aria-label`` that says what it shows
and what it found; the page puts the numbers beside it in a table. Nothing is told by colour alone:
bars under the four-fifths line are hatched and say so in words, reference lines are labelled, and
every value a reader needs is also written out. Colours come from ``ui.css`` classes (the pages'
Content-Security-Policy allows no inline ``style``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from markupsafe import Markup, escape

from screening.calibration.report import RatedPoint

__all__ = [
    "ImpactBar",
    "LevelSpread",
    "agreement_scatter",
    "impact_ratio_chart",
    "level_spreads",
    "spread_chart",
]

WIDTH, HEIGHT = 640, 360
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 48
_GOLDEN = 0.618033988749895  # spreads overlapping points evenly (deterministic: same picture every time)


def _svg(label: str, body: list[str], height: int = HEIGHT) -> Markup:
    """The chart element: named for screen readers (``aria-label`` and ``<title>``), drawn from ``body``."""
    text = escape(label)
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{text}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{text}</title>{"".join(body)}</svg>'
    )


def _text(x: float, y: float, content: str, css: str = "chart-text", anchor: str = "middle") -> str:
    return f'<text class="{css}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(content)}</text>'


def _line(x1: float, y1: float, x2: float, y2: float, css: str) -> str:
    return f'<line class="{css}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"/>'


class _LevelAxes:
    """Plot area with the rubric's scale on both axes (human across, model up)."""

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high
        self.span = max(high - low, 1)

    def x(self, level: float) -> float:
        return LEFT + (level - self.low + 0.5) / (self.span + 1) * (WIDTH - LEFT - RIGHT)

    def y(self, level: float) -> float:
        return TOP + (self.high + 0.5 - level) / (self.span + 1) * (HEIGHT - TOP - BOTTOM)

    def draw(self, x_title: str, y_title: str) -> list[str]:
        parts = []
        for level in range(self.low, self.high + 1):
            parts.append(_line(LEFT, self.y(level), WIDTH - RIGHT, self.y(level), "chart-grid"))
            parts.append(_text(LEFT - 8, self.y(level) + 4, str(level), anchor="end"))
            parts.append(_text(self.x(level), HEIGHT - BOTTOM + 18, str(level)))
        parts.append(_line(LEFT, TOP, LEFT, HEIGHT - BOTTOM, "chart-axis"))
        parts.append(_line(LEFT, HEIGHT - BOTTOM, WIDTH - RIGHT, HEIGHT - BOTTOM, "chart-axis"))
        parts.append(_text((LEFT + WIDTH - RIGHT) / 2, HEIGHT - 8, x_title))
        parts.append(
            f'<text class="chart-text" x="14" y="{(TOP + HEIGHT - BOTTOM) / 2:.1f}" text-anchor="middle" '
            f'transform="rotate(-90 14 {(TOP + HEIGHT - BOTTOM) / 2:.1f})">{escape(y_title)}</text>'
        )
        return parts


def agreement_scatter(points: Sequence[RatedPoint], low: int, high: int) -> Markup | None:
    """Human level (across) against the model's cross-validated level (up) for every rated answer, with
    the line where they agree; ``None`` when no point was scored. Points at one human level are spread
    sideways a little so that they do not hide each other.
    """
    scored = [(p.human, p.after) for p in points if p.after is not None]
    if not scored:
        return None
    axes = _LevelAxes(low, high)
    parts = axes.draw("Human level", "Model level (calibrated, cross-validated)")
    parts.append(_line(axes.x(low - 0.4), axes.y(low - 0.4), axes.x(high + 0.4), axes.y(high + 0.4), "chart-ref"))
    parts.append(_text(axes.x(high + 0.4) - 18, axes.y(high + 0.4) + 4, "model = human", anchor="end"))
    step = (WIDTH - LEFT - RIGHT) / (axes.span + 1)
    for index, (human, model) in enumerate(scored):
        jitter = ((index * _GOLDEN) % 1 - 0.5) * 0.5 * step
        parts.append(f'<circle class="chart-point" cx="{axes.x(human) + jitter:.1f}" cy="{axes.y(model):.1f}" r="4"/>')
    within = sum(abs(h - m) <= 0.5 for h, m in scored)
    label = (
        f"Scatter plot of {len(scored)} rated answers: human level across, model level up, from {low} to {high}. "
        f"{within} of {len(scored)} lie within half a level of the line where model and human agree."
    )
    return _svg(label, parts)


@dataclass(frozen=True, slots=True)
class LevelSpread:
    """The model's levels for the answers a human put at one level: count and five-number summary."""

    human_level: int
    n: int
    minimum: float
    lower_quartile: float
    median: float
    upper_quartile: float
    maximum: float
    values: tuple[float, ...]


def level_spreads(points: Sequence[RatedPoint]) -> list[LevelSpread]:
    """The spread of the model's cross-validated levels per human level (a raters' mean rounded half up),
    lowest level first.
    """
    groups: dict[int, list[float]] = {}
    for p in points:
        if p.after is not None:
            groups.setdefault(math.floor(p.human + 0.5), []).append(p.after)  # half up, as the confusion matrix
    spreads = []
    for level in sorted(groups):
        values = np.asarray(groups[level], dtype=float)
        q = np.percentile(values, [0, 25, 50, 75, 100])
        spreads.append(LevelSpread(level, len(values), *(round(float(v), 2) for v in q), tuple(groups[level])))
    return spreads


def spread_chart(spreads: Sequence[LevelSpread], low: int, high: int) -> Markup | None:
    """A box per human level (quartiles, median, whiskers to the extremes) with each answer as a dot;
    ``None`` without data. The median is a thick line and written beside the box.
    """
    if not spreads:
        return None
    axes = _LevelAxes(low, high)
    parts = axes.draw("Human level", "Model level (calibrated)")
    half = (WIDTH - LEFT - RIGHT) / (axes.span + 1) * 0.22
    for s in spreads:
        x = axes.x(s.human_level)
        parts.append(_line(x, axes.y(s.minimum), x, axes.y(s.maximum), "chart-whisker"))
        top, bottom = axes.y(s.upper_quartile), axes.y(s.lower_quartile)
        parts.append(
            f'<rect class="chart-box" x="{x - half:.1f}" y="{top:.1f}" width="{2 * half:.1f}" '
            f'height="{max(bottom - top, 1):.1f}"/>'
        )
        parts.append(_line(x - half, axes.y(s.median), x + half, axes.y(s.median), "chart-median"))
        parts.append(_text(x + half + 4, axes.y(s.median) + 4, f"{s.median:.1f}", anchor="start"))
        for index, value in enumerate(s.values):
            jitter = ((index * _GOLDEN) % 1 - 0.5) * 1.2 * half
            parts.append(f'<circle class="chart-dot" cx="{x + jitter:.1f}" cy="{axes.y(value):.1f}" r="2.5"/>')
    medians = "; ".join(f"human level {s.human_level}: median {s.median:.1f} (n={s.n})" for s in spreads)
    label = f"Box plot of the model's levels for each human level, from {low} to {high}. {medians}."
    return _svg(label, parts)


@dataclass(frozen=True, slots=True)
class ImpactBar:
    """One category's impact ratio (``None``: not computed, with the reason in ``note``)."""

    category: str
    ratio: float | None
    note: str = ""


def impact_ratio_chart(bars: Sequence[ImpactBar], threshold: float, what: str, key: str) -> Markup | None:
    """Horizontal bars of impact ratios (0 to 1, or further) against the four-fifths line; a bar under the
    line is hatched and says "below" in words. ``key`` keeps the hatch pattern's id unique on the page.
    ``None`` when no ratio was computed (the table beside it says why for each category).
    """
    if all(b.ratio is None for b in bars):
        return None
    row, label_width = 34, 250
    height = TOP + row * len(bars) + 44
    top_ratio = max([1.0, *(b.ratio for b in bars if b.ratio is not None)])
    right = WIDTH - RIGHT - 130  # the values are written in a column after the longest bar

    def x(ratio: float) -> float:
        return label_width + ratio / top_ratio * (right - label_width)

    hatch = f"hatch-{escape(key)}"
    parts = [
        f'<defs><pattern id="{hatch}" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect class="chart-hatch-ground" width="6" height="6"/>'
        '<line class="chart-hatch" x1="0" y1="0" x2="0" y2="6"/></pattern></defs>'
    ]
    for i, b in enumerate(bars):
        y = TOP + i * row
        parts.append(_text(label_width - 8, y + row / 2 + 5, b.category.replace("_", " "), anchor="end"))
        if b.ratio is None:
            parts.append(_text(label_width + 6, y + row / 2 + 5, b.note or "no ratio", "chart-note", "start"))
            continue
        low = b.ratio < threshold
        look = f'class="chart-bar-low" fill="url(#{hatch})"' if low else 'class="chart-bar"'
        parts.append(
            f'<rect {look} x="{label_width}" y="{y + 6}" '
            f'width="{max(x(b.ratio) - label_width, 1):.1f}" height="{row - 12}"/>'
        )
        words = f"{b.ratio:.2f}" + (f" below {threshold:g}" if low else "")
        parts.append(_text(right + 10, y + row / 2 + 5, words, anchor="start"))
    bottom = TOP + row * len(bars)
    parts.append(_line(x(threshold), TOP - 4, x(threshold), bottom + 4, "chart-ref"))
    parts.append(_text(x(threshold), bottom + 18, f"four-fifths line ({threshold:g})"))
    parts.append(_line(label_width, TOP - 4, label_width, bottom + 4, "chart-axis"))
    found = [f"{b.category.replace('_', ' ')} {b.ratio:.2f}" for b in bars if b.ratio is not None]
    below = [b.category.replace("_", " ") for b in bars if b.ratio is not None and b.ratio < threshold]
    label = (
        f"Bar chart of {what} impact ratios against the four-fifths line at {threshold:g}: "
        f"{', '.join(found) or 'none computed'}. "
        + (f"Below the line: {', '.join(below)}." if below else "None below the line.")
    )
    return _svg(label, parts, height)
