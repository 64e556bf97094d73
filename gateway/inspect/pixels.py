"""Pixels of rendered pages, shared by the reading (ocr.py) and the signature's placement."""

from __future__ import annotations


def inked(pixels, rgb, tolerance: float = 60.0):
    """Grey pixels (uint8 [rows, cols]) of a PDFium bitmap's numpy view (BGR) showing only ink of the colour
    `rgb` over white: each pixel's cover by that ink (255 none .. 0 full); a pixel of another colour (black
    text under a red stamp) is white. `darkest` when `rgb` is unknown or too pale to tell apart."""
    import numpy as np

    ink = None if rgb is None else 255.0 - np.asarray(rgb, dtype=np.float32)
    if pixels.ndim != 3 or ink is None or float(ink @ ink) < 40.0 ** 2:
        return darkest(pixels)
    seen = 255.0 - pixels[..., 2::-1].astype(np.float32)  # RGB, as ink over white
    cover = (seen @ ink) / float(ink @ ink)
    off = np.linalg.norm(seen - cover[..., None] * ink, axis=-1) > tolerance
    cover = np.clip(cover, 0.0, 1.0)
    own = (cover > 0.5) & ~off
    cover[off] = 0.0
    out = (255.0 - 255.0 * cover).astype(np.uint8)
    # other ink drawn over this colour's strokes (a line of text across a stamp) hides them: where it lies
    # next to this colour's ink it stands for it (a person reads the stroke through), elsewhere it is white
    near = own.copy()
    for dr in (-2, -1, 1, 2):
        near[max(0, dr):near.shape[0] + min(0, dr)] |= own[max(0, -dr):own.shape[0] + min(0, -dr)]
    wide = near.copy()
    for dc in (-2, -1, 1, 2):
        wide[:, max(0, dc):wide.shape[1] + min(0, dc)] |= near[:, max(0, -dc):near.shape[1] + min(0, -dc)]
    over = off & wide
    out[over] = darkest(pixels)[over]
    return out


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



def box_resize(grey, size: tuple[int, int]):
    """`grey` (uint8 [rows, cols]) averaged down (or sampled up) to `size` (width, height) as Pillow's BOX
    filter does: each output pixel the mean of the input pixels whose centres fall in its box, as float32
    grey levels [height, width]. Within one grey level of `Image.resize(size, Image.BOX)` (which rounds to
    integers between its two passes), in two small products instead of an image object per glyph (a line's
    glyph looks, claimed.py: 8x faster). What is compared with it (claimed.py's looks) is made by it too."""
    import numpy as np

    rows, cols = grey.shape
    width, height = size
    return _box_weights(rows, height) @ np.asarray(grey, dtype=np.float32) @ _box_weights(cols, width).T


_WEIGHTS: dict[tuple[int, int], object] = {}


def _box_weights(n_in: int, n_out: int):
    """[n_out, n_in] float32: each row averages the input pixels whose centres fall in that output pixel's box
    (Pillow's BOX coefficients, Resample.c precompute_coeffs)."""
    import numpy as np

    key = (n_in, n_out)
    w = _WEIGHTS.get(key)
    if w is not None:
        return w
    scale = n_in / n_out
    support = 0.5 * max(scale, 1.0)
    w = np.zeros((n_out, n_in), dtype=np.float32)
    for xx in range(n_out):
        center = (xx + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        inside = [x for x in range(lo, hi) if -0.5 < (x - center + 0.5) / max(scale, 1.0) <= 0.5]
        if inside:
            w[xx, inside] = 1.0 / len(inside)
    if len(_WEIGHTS) < 4096:  # glyph cells come in a few hundred sizes
        _WEIGHTS[key] = w
    return w
