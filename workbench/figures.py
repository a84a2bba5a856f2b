"""Figures as files: every plot workbench writes (experiment reports, estimates) goes through here."""

from __future__ import annotations

import io


def figure_png(figure) -> bytes:
    """A matplotlib `Figure` as PNG bytes (for `ondisk.write_atomic`)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()
