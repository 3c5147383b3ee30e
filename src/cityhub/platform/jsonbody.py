"""JSON parsed with a nesting limit, for bodies and provider answers alike.

Python's parser recurses once per level: `[` x 100,000 raises RecursionError, which no
`except ValueError` catches (a 500), and a document just under the interpreter's limit makes
any later recursive step (validation, encoding, storing it as JSON) fail the same way.
`loads` refuses anything nested deeper than `MAX_DEPTH`, and every error it raises is a
`ValueError` (`JSONTooDeep` for the nesting). The request middleware
(`middleware.JsonDepthLimit`) applies `check_depth` to every JSON body before a route sees it.
"""

from __future__ import annotations

import json
from itertools import accumulate
from typing import Any

# Deeper than any resource we take (a FHIR Appointment nests about 6 levels); far below the
# interpreter's recursion limit.
MAX_DEPTH = 64


class JSONTooDeep(ValueError):
    """The document nests deeper than the hub accepts."""


_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
for _open, _close in (b"[]", b"{}"):
    _STEP[_open], _STEP[_close] = 1, -1


def check_depth(raw: bytes | str, limit: int = MAX_DEPTH) -> None:
    """Raise JSONTooDeep if arrays and objects nest deeper than `limit`, found without
    parsing or recursing (C-speed loops only: a megabyte of brackets takes well under a
    second). Other faults, such as malformed JSON, are left to whoever parses it."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    if data.count(b"[") + data.count(b"{") <= limit:  # the common case: nothing to do
        return
    # Brackets inside strings do not nest: drop escapes (backslashes occur only inside
    # strings), then every other run between quotes is a string.
    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(unescaped.split(b'"')[::2]).translate(None, _NOT_BRACKETS)
    if len(brackets) > limit and max(accumulate(map(_STEP.__getitem__, brackets))) > limit:
        raise JSONTooDeep(f"the JSON nests deeper than {limit} levels")


def loads(raw: bytes | str, limit: int = MAX_DEPTH) -> Any:
    """`json.loads` that refuses nesting deeper than `limit`; every failure is a ValueError."""
    check_depth(raw, limit)
    try:
        return json.loads(raw)
    except RecursionError:  # not reached below the limit; never a 500 all the same
        raise JSONTooDeep(f"the JSON nests deeper than {limit} levels") from None
