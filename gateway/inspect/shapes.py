"""The shapes ink makes, on a binarised picture: what a thin or thick pen's outlines enclose (hollow letters
filled), how far writing or a frame is turned (a stamp askew, a scan's skew), long straight runs (rules and
frames), and the growing and reconnecting of masks these are built on. Shared by the page's reading (ocr.py),
the whole-page stamp search (stamps.py) and the glyph checks (claimed.py); it reads nothing itself.
"""

from __future__ import annotations

HOLLOW_STROKE = 14  # pixels: an outline drawn with a pen this thin or thinner (0.7 pt at 300 dpi is 3, 3 pt 12)
THICK_STROKE = 40  # pixels: up to this an outline may still be a thick pen's (4-9 pt at 300 dpi: 17-38)
SLIT_STROKE = 120  # pixels: runs up to this on a whole page's blob may be a thick pen's letters nearly closed (an
# 8 pt pen on a 48-72 pt word measures the letters' own widths, 50-90 px): their slits are filled (_slits_closed)
THICK_HUGGED = 0.4  # share of a thick pen's ink lying along a shape it encloses: hollow sans letters 0.67-1, serif
# ones 0.4-0.6 (the pen closes a serif's hairline); solid bold letters only around their counters (an M, T, I, C has
# none: "MẬT" 0.2; "THÔNG BÁO" 0.46 and all-counter words "BỘ", "BÁO CÁO" 0.75-0.9 are filled, harmlessly: one
# more reading)


def filled(gray, thick: bool = False, thin: bool = True):
    """`gray` (ink dark on white) with the shapes its thin outlines enclose filled, as a person sees hollow
    (stroked, unfilled) letters: what lies one outline in from the outside is filled, a letter's counter (two
    outlines in: the hole of an O) stays white. None when the ink is not thin outlines enclosing anything.
    `thick`: a thick pen's outlines too; thin=False: only those (a whole page's blobs: Tesseract reads thin
    outlines as they are, and looking costs tens of ms a blob), and then also a pen so thick that it left only
    slits inside the letters."""
    import numpy as np
    from PIL import Image

    a = np.asarray(gray, dtype=np.uint8)
    ink = a < 128
    total = int(ink.sum())
    if total < 200:
        return None
    # the pen's width: the commonest length of the ink's runs along rows (an outline's two sides, a stem)
    flat = np.zeros((ink.shape[0], ink.shape[1] + 2), dtype=np.int8)
    flat[:, 1:-1] = ink
    d = np.diff(flat, axis=1)
    runs = np.nonzero(d.ravel() == -1)[0] - np.nonzero(d.ravel() == 1)[0]
    pen = int(np.median(runs)) if runs.size else 0
    # a whole page's blob drawn with a pen so thick that it nearly closes the letters (8 pt on a 48 pt word):
    # what it encloses are slits along each letter, and the runs measured are the letters' own widths
    slits = not thin and thick and THICK_STROKE < pen <= SLIT_STROKE
    if not slits and not (1 if thin else HOLLOW_STROKE + 1) <= pen <= (THICK_STROKE if thick else HOLLOW_STROKE):
        return None
    # a thick pen's outline (looked for on stamp-sized regions only) is as wide as a bold letter's stem: told
    # apart below
    thick = pen > HOLLOW_STROKE  # from here: the pen found is wider than a thin outline's
    # thin strokes: hardly any ink pixel has ink pen // 2 + 2 pixels away on both sides, across
    k = pen // 2 + 2
    across = ink[k:-k, :] & ink[:-2 * k, :] & ink[2 * k:, :]
    inside = int((across[:, k:-k] & ink[k:-k, :-2 * k] & ink[k:-k, 2 * k:]).sum())
    if inside > (0.25 if thick else 0.05) * total:
        if thin or not thick:
            return None
        slits = True
    # a large image is looked at halved, a pixel inked where any of its four is (an outline stays closed)
    f = 2 if ink.size > 400_000 else 1
    work = ink
    if f == 2:
        h2, w2 = ink.shape[0] // 2 * 2, ink.shape[1] // 2 * 2
        work = ink[:h2:2, :w2:2] | ink[1:h2:2, :w2:2] | ink[:h2:2, 1:w2:2] | ink[1:h2:2, 1:w2:2]
    total = int(work.sum())
    white = np.pad(~work, 1, constant_values=True)
    seed = np.zeros_like(white)
    seed[0, :] = seed[-1, :] = seed[:, 0] = seed[:, -1] = True
    outside = reconstruct(seed, white)
    enclosed = white & ~outside
    if slits:
        return _slits_closed(ink, enclosed[1:-1, 1:-1], f, pen, int(total))
    if thick:
        # a thick pen leaves less paper inside than it inks; hollow letters are told from solid bold ones
        # by their ink: nearly all of it lies along paper it encloses (a solid M or T encloses none)
        if enclosed.sum() < 0.1 * total:
            return None
        hugged = grown(enclosed, max(1, (pen + 2) // f))[1:-1, 1:-1] & work
        if hugged.sum() < THICK_HUGGED * total:
            return None
    elif enclosed.sum() < total:
        return None
    near = grown(outside, max(1, (pen + 2) // f))
    body = reconstruct(enclosed & near, enclosed)[1:-1, 1:-1]
    if body.sum() < (0.1 if thick else 1.0) * total:
        return None
    if f == 2:
        body = np.pad(body.repeat(2, axis=0).repeat(2, axis=1),
                      ((0, ink.shape[0] - 2 * body.shape[0]), (0, ink.shape[1] - 2 * body.shape[1])))
        if thick:  # the halved fill stops a pixel short of the pen: no white seam inside the letters
            body = grown(body, 2)
    solid = ink | body
    if thick:  # filled, a thick pen's letters are a pen wider than the font's and run into each other: thinned
        solid = ~grown(~solid, pen // 3)
    return Image.fromarray(np.where(solid, 0, 255).astype(np.uint8), "L")


SLITS = 0.005  # of the ink: less paper enclosed than this is a solid word's specks, not a thick pen's slits


def _slits_closed(ink, enclosed, f: int, pen: int, total: int):
    """A thick pen's nearly closed letters (`shapes.filled` on a whole page's blob) as a person sees them: the
    slits it left inside filled, then thinned by a quarter of the pen so that the letters stand apart again.
    None when the blob encloses next to nothing (solid letters) or a lot (a counter-rich bold word, read as it
    is)."""
    import numpy as np
    from PIL import Image

    n = int(enclosed.sum())
    if not SLITS * total <= n < 0.1 * total:
        return None
    if f == 2:
        enclosed = np.pad(enclosed.repeat(2, axis=0).repeat(2, axis=1),
                          ((0, ink.shape[0] - 2 * enclosed.shape[0]), (0, ink.shape[1] - 2 * enclosed.shape[1])))
    solid = ~grown(~(ink | enclosed), max(1, pen // 4))
    return Image.fromarray(np.where(solid, 0, 255).astype(np.uint8), "L")


def grown(mask, steps: int):
    """`mask` grown by `steps` pixels (4-connected): what lies within that many steps of it."""
    near = mask.copy()
    for _ in range(steps):
        grown = near.copy()
        grown[1:, :] |= near[:-1, :]
        grown[:-1, :] |= near[1:, :]
        grown[:, 1:] |= near[:, :-1]
        grown[:, :-1] |= near[:, 1:]
        near = grown
    return near


def squared(mask, k: int):
    """`mask` grown by `k` pixels every way, diagonals included (a square, not `shapes.grown`'s diamond: a gap
    closed with it is closed to its corners)."""
    out = mask.copy()
    for axis in (0, 1):
        grown = out.copy()
        n = out.shape[axis]
        for d in range(1, min(k, n - 1) + 1):
            if axis == 0:
                grown[d:] |= out[:-d]
                grown[:-d] |= out[d:]
            else:
                grown[:, d:] |= out[:, :-d]
                grown[:, :-d] |= out[:, d:]
        out = grown
    return out


def reconstruct(seed, allowed, rounds: int = 64):
    """The pixels of `allowed` connected (4-connected) to `seed`: whole runs along rows, then columns, taken
    while they touch what is reached, until nothing changes."""
    import numpy as np

    def sweep(reached, room):
        h, w = room.shape
        start = room.copy()
        start[:, 1:] &= ~room[:, :-1]
        ids = np.cumsum(start.ravel()).reshape(h, w) * room
        hit = np.bincount(ids[reached & room], minlength=int(ids.max()) + 1) > 0
        hit[0] = False
        return hit[ids]

    reached = seed & allowed
    for _ in range(rounds):
        before = int(reached.sum())
        reached = sweep(reached, allowed)
        reached = sweep(reached.T, allowed.T).T
        if int(reached.sum()) == before:
            break
    return reached


TILT_MIN = 6  # degrees: less is a scan's skew, which `ocr.unframe` straightens (up to 4)
TILT_MAX = 45
TILT_SIDE = 240  # pixels: the long side the ink is looked at for its angle


def upright(gray):
    """`gray` (ink dark on white) cropped to its ink and turned upright when its writing or frame is askew by
    TILT_MIN..TILT_MAX degrees (a rubber stamp, a diagonal watermark), else None. The angle is the one that
    makes the ink's rows most uneven (lines of writing and frame edges horizontal)."""
    import numpy as np
    from PIL import Image

    a = np.asarray(gray, dtype=np.uint8)
    ink = a < 128
    rows, cols = np.nonzero(ink.any(axis=1))[0], np.nonzero(ink.any(axis=0))[0]
    if rows.size < 8 or cols.size < 8:
        return None
    pad = 8
    r0, r1 = max(0, rows[0] - pad), min(a.shape[0], rows[-1] + pad + 1)
    c0, c1 = max(0, cols[0] - pad), min(a.shape[1], cols[-1] + pad + 1)
    crop = gray.crop((int(c0), int(r0), int(c1), int(r1)))
    f = max(1, int(np.ceil(max(crop.size) / TILT_SIDE)))
    small = Image.fromarray(np.where(ink[r0:r1:f, c0:c1:f], 255, 0).astype(np.uint8), "L")

    def score(angle: float) -> float:
        profile = np.asarray(small.rotate(angle, resample=Image.NEAREST, expand=True)).sum(axis=1, dtype=np.float64)
        return float(np.square(np.diff(profile)).sum())

    scores = {d: score(d) for d in range(-TILT_MAX, TILT_MAX + 1, 3)}
    best = max(scores, key=scores.get)
    for d in (best - 2, best - 1, best + 1, best + 2):
        if abs(d) <= TILT_MAX:
            scores[d] = score(d)
    best = max(scores, key=scores.get)
    if abs(best) < TILT_MIN or scores[best] < 1.15 * scores[0]:
        return None
    return crop.rotate(best, resample=Image.BICUBIC, expand=True, fillcolor=255)


def skew(ink) -> float:
    """The angle (degrees, -4..4) that makes the ink's rows most even: text lines and frames horizontal."""
    import numpy as np
    from PIL import Image

    h, w = ink.shape
    step = max(1, int(max(h, w) / 800))
    small = Image.fromarray((ink[::step, ::step] * 255).astype(np.uint8), "L")
    if not np.asarray(small).any():
        return 0.0
    best, best_score = 0.0, -1.0
    for tenth in range(-40, 41, 5):
        rows = np.asarray(small.rotate(tenth / 10, resample=Image.NEAREST, expand=True)).sum(axis=1, dtype=np.float64)
        score = float(np.square(np.diff(rows)).sum())
        if score > best_score:
            best, best_score = tenth / 10, score
    for tenth in (best * 10 - 2, best * 10 - 1, best * 10 + 1, best * 10 + 2):
        rows = np.asarray(small.rotate(tenth / 10, resample=Image.NEAREST, expand=True)).sum(axis=1, dtype=np.float64)
        score = float(np.square(np.diff(rows)).sum())
        if score > best_score:
            best, best_score = tenth / 10, score
    return best


def long_runs(b, length: int):
    """Mask of the runs of True along each row of `b` at least `length` long."""
    import numpy as np

    out = np.zeros_like(b, dtype=bool)
    rows = np.flatnonzero(np.count_nonzero(b, axis=1) >= length)  # only a row with that much ink can hold one
    if rows.size == 0:
        return out
    w = b.shape[1]
    padded = np.zeros((rows.size, w + 2), dtype=np.int8)
    padded[:, 1:-1] = b[rows]
    d = np.diff(padded, axis=1)
    starts = np.argwhere(d == 1)
    ends = np.argwhere(d == -1)
    long = (ends[:, 1] - starts[:, 1]) >= length
    for (r, s0), (_, e0) in zip(starts[long], ends[long]):
        out[rows[r], s0:e0] = True
    return out


# --- PDF pages ----------------------------------------------------------------------------------------------
