"""Bar charts as inline SVG, drawn on the server.

Written here rather than taken from a charting library: a bar chart is a few rectangles,
and the page must stay small and work without JavaScript on a member's or owner's phone.
Integer arithmetic only; labels are escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT, GUTTER, LABEL_SPACE = 320, 160, 6, 28


def bar_chart(
    title: str, bars: Sequence[tuple[str, int, str]], *, maximum: int | None = None
) -> Markup:
    """`bars`: (axis label, value, value as shown). Returns an accessible <svg>."""
    top = max([maximum or 0, *(value for _, value, _ in bars), 1])
    count = max(len(bars), 1)
    slot = WIDTH // count
    plot = HEIGHT - LABEL_SPACE
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for index, (label, value, shown) in enumerate(bars):
        height = value * (plot - 14) // top
        x = index * slot + GUTTER // 2
        y = plot - height
        parts.append(
            f'<rect x="{x}" y="{y}" width="{slot - GUTTER}" height="{height}" rx="3"></rect>'
            f'<text x="{x + (slot - GUTTER) // 2}" y="{y - 3}" class="value">{escape(shown)}</text>'
            f'<text x="{x + (slot - GUTTER) // 2}" y="{HEIGHT - 10}" class="label">'
            f"{escape(label)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every piece of text above is escaped
