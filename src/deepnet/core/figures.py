"""Matplotlib figures (drawn without a display, Agg) and Pillow images as PNG bytes or
data: URIs."""

from __future__ import annotations

import base64
import io


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig) -> bytes:
    """A matplotlib figure as PNG bytes; the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    pyplot().close(fig)
    return buf.getvalue()


def image_png(image) -> bytes:
    """A Pillow image as PNG bytes."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    """PNG bytes as a data: URI, for a self-contained page."""
    return "data:image/png;base64," + base64.b64encode(png).decode()


def figure_png(fig) -> str:
    """A matplotlib figure as a data: URI."""
    return data_uri(png_bytes(fig))
