"""Pixels of rendered pages, shared by the reading (ocr.py) and the signature's placement."""

from __future__ import annotations


def darkest(pixels):
    """Grey pixels (uint8 [rows, cols], a new array) of a PDFium bitmap's numpy view: the darkest channel of
    each pixel, so pale coloured ink counts as ink. A pairwise minimum: numpy's min over a last axis of 3
    costs five times as much."""
    import numpy as np

    if pixels.ndim != 3:
        return pixels.copy()
    out = pixels[..., 0].copy()
    for channel in range(1, pixels.shape[2]):
        np.minimum(out, pixels[..., channel], out=out)
    return out
