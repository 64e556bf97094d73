"""What a viewer plays rather than draws: media, and the actions that start media or a script.

A screen, movie, sound, rich-media or 3D annotation shows or sounds what its media holds (a video, a sound, a
3D model's labels); the page read here holds at most its poster. A rendition, sound or movie action plays media
too, and a rendition action may run JavaScript from its /JS without the name /JavaScript anywhere (the raw
search of `hints` finds that name only). None of it is read here: media is refused as not read completely
(DOCUMENT_UNREADABLE), a script goes to the policy's `javascript` option like any other.

Actions are looked for where a viewer triggers them: the catalogue's open action and additional actions, each
page's additional actions, each annotation's action and additional actions, each form field's additional
actions, each bookmark's action, and each action's /Next (one action or a list).
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_OBJECTS = 200_000  # holders and actions looked at per document; more: not read completely

MEDIA_ANNOTATIONS = {
    "/Screen": "screen (video)", "/Movie": "movie", "/Sound": "sound", "/RichMedia": "rich media", "/3D": "3D model",
}
MEDIA_ACTIONS = {
    "/Rendition": "rendition (media)", "/Sound": "sound", "/Movie": "movie",
    "/RichMediaExecute": "rich media", "/GoTo3DView": "3D model",
}


class ActionsUnread(Exception):
    """Too many actions or outline items to look at, or a tree too deep."""


@dataclass(frozen=True)
class Played:
    script: bool  # an action runs JavaScript that carries no /JavaScript name (a rendition's /JS)
    media: tuple[str, ...]  # the kinds of media a viewer plays, sorted


def played(reader, root) -> Played:
    """The media and rendition scripts of a pypdf `reader`'s document (root: its catalogue)."""
    holders: list = [root]
    for page in reader.pages:
        holders.append(page)
        annots = _value(page, "/Annots")
        holders.extend(a for a in (annots if isinstance(annots, list) else ()))
    form = _value(root, "/AcroForm")
    fields = _value(form, "/Fields") if hasattr(form, "get") else None
    fields = list(fields) if isinstance(fields, list) else []
    holders.extend(_tree(fields, ("/Kids",)))
    holders.extend(outline_items(root, MAX_OBJECTS))
    media: set[str] = set()
    actions: list = []
    for holder in holders:
        h = holder.get_object()
        if not hasattr(h, "get"):
            continue
        kind = MEDIA_ANNOTATIONS.get(_name(h, "/Subtype"))
        if kind:
            media.add(kind)
        for key in ("/OpenAction", "/A"):
            if h.get(key) is not None:
                actions.append(h.raw_get(key))
        aa = _value(h, "/AA")
        if hasattr(aa, "raw_get"):
            actions.extend(aa.raw_get(k) for k in aa)
    script = False
    for action in _tree(actions, ("/Next",)):
        a = action.get_object()
        if not hasattr(a, "get"):
            continue  # an open action that is a destination
        kind = MEDIA_ACTIONS.get(_name(a, "/S"))
        if kind:
            media.add(kind)
        script = script or (_name(a, "/S") == "/Rendition" and a.get("/JS") is not None)
    return Played(script, tuple(sorted(media)))


def _value(d, key: str):
    """`d[key]` resolved (a direct or indirect value), None when absent."""
    value = d.get(key)
    return value.get_object() if value is not None else None


def _name(d, key: str) -> str | None:
    value = _value(d, key)
    return str(value) if isinstance(value, str) else None


def _tree(roots: list, links: tuple[str, ...], limit: int = MAX_OBJECTS, what: str = "actions or fields"):
    """Each object reachable from `roots` through `links` (each an object or a list of them), once; over
    `limit`: ActionsUnread."""
    seen: set = set()
    stack = list(roots)
    while stack:
        ref = stack.pop()
        key = getattr(ref, "idnum", None), getattr(ref, "generation", None)
        if key[0] is not None:
            if key in seen:
                continue
            seen.add(key)
        if len(seen) > limit:
            raise ActionsUnread(f"over {limit} {what}")
        obj = ref.get_object()
        yield ref
        for link in links if hasattr(obj, "raw_get") else ():
            nxt = obj.raw_get(link) if link in obj else None
            nxt_obj = nxt.get_object() if nxt is not None else None
            if isinstance(nxt_obj, list):
                stack.extend(nxt_obj)
            elif nxt is not None:
                stack.append(nxt)


def outline_items(root, limit: int):
    """Each bookmark of the catalogue `root` once (a loop in the tree is walked once); over `limit` items:
    ActionsUnread."""
    outlines = _value(root, "/Outlines")
    first = outlines.raw_get("/First") if hasattr(outlines, "raw_get") and "/First" in outlines else None
    for ref in _tree([first] if first is not None else [], ("/Next", "/First"), limit, "bookmarks"):
        item = ref.get_object()
        if hasattr(item, "get"):
            yield item
