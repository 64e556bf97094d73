"""Stamps on a whole page or image read apart (issue 13): what Tesseract reading the page as a whole misses.

A rubber stamp is printed at an angle, over writing or a table, sometimes in hollow letters. OCR reads a page
straightened by a scan's skew only, and reads a stamp's letters crossed by other ink as nothing. `askew` cuts
each stamp out and turns it upright, found three ways:
- a stamp-sized blob of ink, or a row of blobs of a stamp's height (a large word's letters stand apart);
- the same on the page with its long straight rules taken away, the strokes they crossed mended (a stamp on a
  table is one blob with the table);
- by its frame: two parallel straight edges askew (a stamp on writing is one blob with the paragraph).
Hollow letters are also given filled, a grey stamp under black writing also as its grey alone. ocr.py reads
what this gives (`ocr._askew_placed`).
"""

from __future__ import annotations

from gateway.inspect import shapes

BLOB_CELL = 10  # pixels of a whole page gathered into one cell to find its blobs of ink (`askew`)
BLOB_JOIN = 2  # cells: ink this close is one blob (a stamp's letters and frame; a paragraph's lines)
BLOB_INCHES = ((0.5, 4.5), (0.3, 4.5))  # a stamp's width and height: a blob outside these is not read apart
BLOB_LOOKED = 200  # stamp-sized blobs looked at for a tilt per page (`shapes.upright`: a few ms each)
BLOB_MAX = 12  # blobs askew read per page; more (a page turned as a whole, a crafted page) is not read in full


def askew(img, dpi: float):
    """([(upright image, (x, y) of its crop in `img`'s pixels)], whether there were more than could be read):
    each stamp-sized blob of ink on a whole page (a framed stamp, a line of large letters) whose writing or
    frame is askew by TILT_MIN..TILT_MAX degrees (shapes.py), cut out (only its own ink) and turned upright. A
    whole page is only straightened up to 4 degrees (a scan's skew): a black or grey rubber stamp at 20 degrees
    was read as nothing. The page's text lines are level: `shapes.upright` finds no tilt in them and they cost no
    reading.
    A blob, or a row of blobs of a stamp's height (`_word_groups`), of hollow letters is also read filled
    (`shapes.filled`), upright or not. More than BLOB_LOOKED stamp-sized blobs, or BLOB_MAX read apart: the page is
    not read completely (True). A stamp printed over a table's rules is one blob with the table: it is looked
    for again with the page's long rules taken away (`_without_rules`), among the blobs whose strokes crossed
    a rule."""
    import numpy as np

    gray = img.convert("L")
    if min(gray.size) < 8 * BLOB_CELL:
        return [], False
    out, more = _stamp_blobs(gray, dpi)
    if more:
        return out, more
    ink = np.asarray(gray) < 128
    clean = _without_rules(gray, dpi, ink)
    if clean is not None:
        page, crossed = clean
        found = {(xy, im.size) for im, xy in out}
        again, more = _stamp_blobs(page, dpi, crossed)
        out += [(im, xy) for im, xy in again if (xy, im.size) not in found]
    framed, many = _framed_stamps(gray, dpi, ink)
    return out + framed, more or many


FRAME_EDGE = 0.5  # inches: a stamp frame's long sides are at least this long
FRAME_STEP = 3  # degrees between the angles a frame is looked for at
FRAME_STROKE = 0.08  # inches: an edge's band of rows (its stroke, a little askew) is no thicker than this
FRAME_BANDS = 24  # straight edges looked at per angle (the longest): more is hatching or a ruled drawing


def _framed_stamps(gray, dpi: float, ink=None):
    """([(the page turned upright at a stamp frame's angle, cut to the frame; (x, y) of its top left on the
    page)], whether there were more than BLOB_MAX): stamps askew found by their frame, wherever they are
    (printed over writing, the stamp and the text are one blob): two parallel straight edges, at least
    FRAME_EDGE long side by side, a stamp's height apart, at TILT_MIN..TILT_MAX degrees. Looked for on the
    page at a few hundred pixels a side (as `_skew` looks), every FRAME_STEP degrees. `ink`: `gray` < 128, when
    the caller has it."""
    import math

    import numpy as np
    from PIL import Image

    ink = np.asarray(gray) < 128 if ink is None else ink
    h, w = ink.shape
    step = max(1, int(max(h, w) / 800))
    small = Image.fromarray(ink[::step, ::step])
    sw, sh = small.size
    length = int(FRAME_EDGE * dpi / step)
    (_, wmax), (hmin, hmax) = BLOB_INCHES
    lo, hi = shapes.TILT_MIN, shapes.TILT_MAX
    angles = list(range(-hi, -lo + 1, FRAME_STEP)) + list(range(lo, hi + 1, FRAME_STEP))
    found = []  # (score, angle, centre x, centre y, width, height): page pixels
    for angle in angles:
        rot = np.asarray(small.rotate(angle, resample=Image.NEAREST, expand=True)) > 0
        runs = shapes.long_runs(rot, length)
        rows = np.flatnonzero(runs.any(axis=1))
        if rows.size < 2:
            continue
        bands = np.split(rows, np.flatnonzero(np.diff(rows) > 3) + 1)  # an edge is a few rows
        # an edge is thin: a thick band is the inside of a filled shape, turned
        bands = [band for band in bands if (band[-1] - band[0] + 1) * step <= FRAME_STROKE * dpi]
        if len(bands) > FRAME_BANDS:
            bands = sorted(bands, key=lambda band: -int(runs[band].sum()))[:FRAME_BANDS]
            bands.sort(key=lambda band: int(band[0]))
        for i, a in enumerate(bands):
            ca = np.flatnonzero(runs[a].any(axis=0))
            for b in bands[i + 1:]:
                top, bottom = int(a[0]), int(b[-1])
                if (bottom - top) * step / dpi > hmax:
                    break
                if (bottom - top) * step / dpi < hmin:
                    continue
                cb = np.flatnonzero(runs[b].any(axis=0))
                if min(ca[-1], cb[-1]) - max(ca[0], cb[0]) < length / 2:
                    continue  # not side by side
                # the edges' long pieces: writing crossing the frame breaks them, so their union, and more
                pad = (bottom - top) // 3
                left, right = int(min(ca[0], cb[0])) - pad, int(max(ca[-1], cb[-1])) + pad
                if (right - left) * step / dpi > wmax + 1:
                    continue
                # the frame's centre back on the page (the turn was about the centre, the canvas grown)
                t = math.radians(angle)
                dx, dy = (left + right) / 2 - rot.shape[1] / 2, (top + bottom) / 2 - rot.shape[0] / 2
                x = (sw / 2 + dx * math.cos(t) - dy * math.sin(t)) * step
                y = (sh / 2 + dx * math.sin(t) + dy * math.cos(t)) * step
                found.append((int(runs[a].sum() + runs[b].sum()), angle, x, y, (right - left) * step,
                              (bottom - top) * step))
    kept: list[tuple] = []  # one per frame: the angle whose edges are longest
    for f in sorted(found, reverse=True):
        if not any(abs(f[2] - k[2]) < k[4] / 2 and abs(f[3] - k[3]) < k[5] / 2 and abs(f[1] - k[1]) <= 2 * FRAME_STEP
                   for k in kept):
            kept.append(f)
    out, turned = [], {}
    for _, angle, x, y, fw, fh in kept[:BLOB_MAX]:
        if angle not in turned:
            turned[angle] = gray.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=255)
        page = turned[angle]
        t = math.radians(angle)
        dx, dy = x - w / 2, y - h / 2
        cx = page.size[0] / 2 + dx * math.cos(t) + dy * math.sin(t)
        cy = page.size[1] / 2 - dx * math.sin(t) + dy * math.cos(t)
        m = 2 * step + 6
        crop = page.crop((int(cx - fw / 2 - m), int(cy - fh / 2 - m), int(cx + fw / 2 + m), int(cy + fh / 2 + m)))
        at = (max(0, int(x - fw / 2)), max(0, int(y - fh / 2)))
        # and without the thin strokes of the writing the stamp was printed over (a stamp's letters are bolder):
        # strokes up to 2r thick taken away, and up to 2r - 2 (a serif face's bars and hairlines are thinner)
        ink = np.asarray(crop) < 128
        out.append((crop, at))
        r = max(2, round(dpi / 60))
        for k in (r, r - 1):
            bold = shapes.grown(~shapes.grown(~ink, k), k)
            out.append((Image.fromarray(np.where(bold, 0, 255).astype(np.uint8), "L"), at))
        out += [(grey, at) for grey in _grey_layers(crop)]
    return out, len(kept) > BLOB_MAX


GREY_BAND = (50, 60)  # grey levels: black ink is darker than the first, a grey stamp's ink from the second up to
# 60 below the paper (a scan's noise spreads each by some 30 levels)


def _grey_layers(gray) -> list:
    """The ink of `gray` in a middle grey (a grey stamp) without the black writing crossing it (nor its soft
    edges, 2 px), black on white, twice: as it is (holes where the writing crossed), and mended as a person
    reads it (the soft edges left outside the writing taken away: they are thin, a stamp's strokes are not;
    the writing's strokes across the stamp's, up to 2 x GREY_MEND wide, the stamp's). Tesseract reads either
    better depending on the letters. Empty unless the ink is of both greys (a black stamp over black writing)."""
    import numpy as np
    from PIL import Image

    a = np.asarray(gray, dtype=np.uint8)
    hist = np.bincount(a.ravel(), minlength=256)
    paper = int(hist.argmax())
    black, grey = int(hist[: GREY_BAND[0]].sum()), int(hist[GREY_BAND[1]: max(GREY_BAND[1], paper - 60)].sum())
    if min(black, grey) < 0.02 * a.size:
        return []
    black = shapes.grown(a < GREY_BAND[0], 2)
    layer = (a >= GREY_BAND[1]) & (a < paper - 60) & ~black
    mended = shapes.squared(~shapes.squared(~layer, 2), 2)
    mended |= ~shapes.squared(~shapes.squared(mended, GREY_MEND), GREY_MEND) & black
    return [Image.fromarray(np.where(m, 0, 255).astype(np.uint8), "L") for m in (layer, mended)]



GREY_MEND = 7  # pixels (at 300 dpi): half the widest black stroke across a grey stamp's that is read through


RULE_INCHES = 1.0  # a straight run of ink longer than this along the page's rows or columns is a rule


def _without_rules(gray, dpi: float, ink=None):
    """(the page binarised, black on white, without its long straight rules (a table's, underlines), the
    strokes they crossed mended; the cells of `_stamp_blobs`' grid where a stroke was mended), or None when the
    page has no rule. The rules are found with the scan's skew taken out and removed where they are. `ink`:
    `gray` < 128, when the caller has it."""
    import numpy as np
    from PIL import Image

    ink = np.asarray(gray) < 128 if ink is None else ink
    h, w = ink.shape
    length = int(RULE_INCHES * dpi)
    angle = shapes.skew(ink)
    # most pages have no rule: a look at every few pixels (as `_skew` looks) says so for a few ms
    step = max(1, int(max(h, w) / 800))
    small = np.asarray(Image.fromarray(ink[::step, ::step]).rotate(angle, resample=Image.NEAREST, expand=True)) > 0
    if not (shapes.long_runs(small, length // step - 2).any() or shapes.long_runs(small.T, length // step - 2).any()):
        return None
    if abs(angle) >= 0.3:
        level = np.asarray(Image.fromarray(ink).rotate(angle, resample=Image.NEAREST, expand=True)) > 0
        found = shapes.long_runs(level, length) | shapes.long_runs(level.T, length).T
        if not found.any():
            return None
        back = Image.fromarray(found).rotate(-angle, resample=Image.NEAREST, expand=True)
        x0, y0 = (back.size[0] - w) // 2, (back.size[1] - h) // 2
        rules = np.asarray(back.crop((x0, y0, x0 + w, y0 + h))) > 0
    else:
        rules = shapes.long_runs(ink, length) | shapes.long_runs(ink.T, length).T
        if not rules.any():
            return None
    rules = shapes.grown(rules, 2) & ink  # the rule's soft edges, and the rounding of turning it back
    clean = ink & ~rules
    # a stroke crossing a rule has ink beyond the rule on both sides, within the rule's width
    reach = max(4, int(dpi / 25))
    ys, xs = np.flatnonzero(rules.any(axis=1)), np.flatnonzero(rules.any(axis=0))
    if ys.size == 0:
        return None
    r0, r1 = max(0, ys[0] - reach), min(h, ys[-1] + reach + 1)
    c0, c1 = max(0, xs[0] - reach), min(w, xs[-1] + reach + 1)
    part = clean[r0:r1, c0:c1]
    up, down, lt, rt = (np.zeros_like(part) for _ in range(4))
    for d in range(1, reach + 1):
        up[d:] |= part[:-d]
        down[:-d] |= part[d:]
        lt[:, d:] |= part[:, :-d]
        rt[:, :-d] |= part[:, d:]
    mended = rules[r0:r1, c0:c1] & ((up & down) | (lt & rt))
    page = clean.copy()
    page[r0:r1, c0:c1] |= mended
    k = BLOB_CELL
    full = np.zeros_like(ink)
    full[r0:r1, c0:c1] = mended
    crossed = full[: h // k * k, : w // k * k].reshape(h // k, k, w // k, k).any(axis=(1, 3))
    return Image.fromarray(np.where(page, 0, 255).astype(np.uint8), "L"), crossed


def _stamp_blobs(gray, dpi: float, crossed=None):
    """`askew` on one picture of the page (`gray`); with `crossed` (a mask of blob cells), only the
    blobs that reach it."""
    import numpy as np
    from PIL import Image

    k = BLOB_CELL
    # a cell holds ink when any of its pixels is dark (PIL's table and reduction: a tenth of numpy's cost)
    cells = np.asarray(gray.point([255] * 128 + [0] * 128).reduce(k)) > 0
    labels = _labelled(shapes.grown(cells, BLOB_JOIN))
    count = int(labels.max()) + 1
    if count <= 1:
        return [], False
    # each blob's bounding cells, all blobs at once
    rr, cc = np.nonzero(labels)
    ll = labels[rr, cc]
    top, left = np.full(count, labels.shape[0]), np.full(count, labels.shape[1])
    bottom, right = np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.int64)
    np.minimum.at(top, ll, rr)
    np.minimum.at(left, ll, cc)
    np.maximum.at(bottom, ll, rr + 1)
    np.maximum.at(right, ll, cc + 1)
    (wmin, wmax), (hmin, hmax) = BLOB_INCHES
    w, h = (right - left) * k / float(dpi), (bottom - top) * k / float(dpi)
    stamp_sized = (w >= wmin) & (w <= wmax) & (h >= hmin) & (h <= hmax)
    reach = np.ones(count, dtype=bool)
    if crossed is not None:
        reach[:] = False
        reach[labels[: crossed.shape[0], : crossed.shape[1]][crossed[: labels.shape[0], : labels.shape[1]]]] = True
        reach[0] = False
        stamp_sized &= reach
    sized = np.nonzero(stamp_sized)[0]
    if sized.size > BLOB_LOOKED:
        return [], True

    def cut(members, r0, r1, c0, c1):
        """The ink of the blobs `members` in cells r0:r1, c0:c1, black on white (only their own)."""
        own = np.isin(labels[r0:r1, c0:c1], members).repeat(k, axis=0).repeat(k, axis=1)
        crop = np.asarray(gray.crop((int(c0 * k), int(r0 * k), int(c1 * k), int(r1 * k)))) < 128
        crop &= own[: crop.shape[0], : crop.shape[1]]
        return Image.fromarray(np.where(crop, 0, 255).astype(np.uint8), "L")

    out = []
    blobs = 0  # read apart
    tall = np.nonzero((w <= wmax) & (h >= hmin) & (h <= hmax) & reach)[0]
    words = _word_groups(tall, top, bottom, left, right) if tall.size <= BLOB_LOOKED else []
    for members in [[label] for label in sized] + words:
        r0, r1 = min(top[m] for m in members), max(bottom[m] for m in members)
        c0, c1 = min(left[m] for m in members), max(right[m] for m in members)
        blob = cut(members, r0, r1, c0, c1)
        turned = shapes.upright(blob) if len(members) == 1 else None
        # hollow letters (a stamp's outlined word, a thick pen's): filled, upright or not. On a whole page
        # nothing else fills them (the page is too large for `shapes.filled`), and Tesseract reads them as nothing
        readings = [i for i in (turned, shapes.filled(blob if turned is None else turned, thick=True, thin=False))
                    if i is not None]
        if not readings:
            continue
        if blobs >= BLOB_MAX:
            return out, True
        blobs += 1
        out += [(i, (int(c0 * k), int(r0 * k))) for i in readings]
    return out, False


WORD_GAP = 0.6  # of the taller's height: blobs of a stamp's height this close side by side are one word's letters


def _word_groups(labels, top, bottom, left, right) -> list[list[int]]:
    """Blobs of a stamp's height standing side by side on one line (overlapping by half the lower one's height,
    a gap of up to WORD_GAP of the taller's height): the letters of one word in large letters, apart because
    large letters stand far apart (a 96 pt "MẬT" is two blobs, "MẬ" and "T"). Groups of two or more."""
    parent = {int(a): int(a) for a in labels}  # at most BLOB_LOOKED: all pairs are looked at

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    order = sorted(parent, key=lambda a: left[a])
    for i, a in enumerate(order):
        for b in order[i + 1:]:
            ha, hb = bottom[a] - top[a], bottom[b] - top[b]
            if left[b] - right[a] > WORD_GAP * max(ha, hb):
                continue
            if min(bottom[a], bottom[b]) - max(top[a], top[b]) >= 0.5 * min(ha, hb):
                parent[root(b)] = root(a)
    groups: dict[int, list[int]] = {}
    for a in parent:
        groups.setdefault(root(a), []).append(a)
    return [g for g in groups.values() if len(g) > 1]


def _labelled(mask, rounds: int = 64):
    """Labels (int32, 0 = none) of the 4-connected parts of boolean `mask`: each run along the rows, then the
    columns, takes the least label among its pixels, until nothing changes (as `_reconstruct`: a few rounds)."""
    import numpy as np

    def sweep(labels, room):
        h, w = room.shape
        start = room.copy()
        start[:, 1:] &= ~room[:, :-1]
        where = np.flatnonzero(room)
        if where.size == 0:
            return labels
        flat = labels.ravel().copy()
        firsts = np.flatnonzero(start.ravel()[where])
        least = np.minimum.reduceat(flat[where], firsts)
        flat[where] = np.repeat(least, np.diff(np.append(firsts, where.size)))
        return flat.reshape(h, w)

    big = np.int32(mask.size + 1)
    labels = np.where(mask, np.arange(1, mask.size + 1, dtype=np.int32).reshape(mask.shape), big)
    for _ in range(rounds):
        before = labels
        labels = sweep(labels, mask)
        labels = np.ascontiguousarray(sweep(np.ascontiguousarray(labels.T), np.ascontiguousarray(mask.T)).T)
        if np.array_equal(before, labels):
            break
    return np.where(mask, labels, 0)
