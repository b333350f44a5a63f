"""The regular expressions of a sync's ``file_filters.patterns``: which ones are accepted.

The vendor documents ``patterns`` as "Regex patterns for filename matching" (its example:
``.*-processed\\.jpg$``). The engine applies each with ``re.search`` to the file's path below
the sync's ``source_path`` (app/engine/filters.py). Python's ``re`` backtracks and has no
timeout, and both the pattern and the paths it meets (S3 keys, up to 1024 bytes) are in the
caller's hands: ``.*.*.*x`` takes 100 seconds on one 1024-character key. So a pattern is refused
(a 422 naming the item) unless its worst case stays in milliseconds:

- at most ``MAX_REGEX_LENGTH`` characters, and it compiles;
- no backreferences or conditional groups (they are not regular);
- no repeat inside a repeat (``(a+)+``, ``(\\w*){3}``), nor an alternation inside a repeat of
  variable length (``(a|aa)*``);
- at most two unbounded repeats (``*``, ``+``, ``{m,}``), counting the scan ``re.search`` makes
  over start positions as one unless the pattern is anchored with ``^`` or ``\\A``: each is a
  factor of the key's length in the worst case, and n² (n = 1024) is about a millisecond;
- the bounded repeats' spans (``?`` is 2, ``{1,4}`` is 4) multiply to at most
  ``MAX_BOUNDED_SPAN``.

The worst accepted pattern takes about 5 ms on a hostile 1024-character key.

So ``.*-processed\\.jpg$``, ``^[a-z]+_\\d+\\.jpg$`` and ``\\.(jpg|png)$`` are accepted;
``.*.*x``, ``[a-z]+_\\d+\\.jpg$`` (unanchored: write ``^.*`` before it, or anchor it) and
``(a+)+$`` are not.
"""

import re
from re import _constants as sre_constants
from re import _parser as sre_parser
from typing import Any

from app.limits import MAX_BOUNDED_SPAN, MAX_REGEX_LENGTH

MAX_UNBOUNDED_FACTORS = 2

_REPEATS = {
    sre_constants.MAX_REPEAT,
    sre_constants.MIN_REPEAT,
    *([sre_constants.POSSESSIVE_REPEAT] if hasattr(sre_constants, "POSSESSIVE_REPEAT") else []),
}
_UNBOUNDED = sre_constants.MAXREPEAT
_ANCHORS = {sre_constants.AT_BEGINNING, sre_constants.AT_BEGINNING_STRING}


class _Cost:
    def __init__(self) -> None:
        self.unbounded = 0
        self.span = 1


def _children(op: Any, av: Any) -> list[Any]:
    """The sub-patterns below one parsed item."""
    if op in _REPEATS:
        return [av[2]]
    if op is sre_constants.SUBPATTERN:
        return [av[3]]
    if op is sre_constants.BRANCH:
        return list(av[1])
    if op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
        return [av[1]]
    if op is getattr(sre_constants, "ATOMIC_GROUP", None):
        return [av]
    return []


def _has(pattern: Any, wanted: set[Any], *, variable_only: bool = False) -> bool:
    for op, av in pattern:
        if op in wanted and not (variable_only and op in _REPEATS and av[0] == av[1]):
            return True
        if any(_has(child, wanted, variable_only=variable_only) for child in _children(op, av)):
            return True
    return False


def _walk(pattern: Any, cost: _Cost) -> None:
    for op, av in pattern:
        if op in (sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS):
            raise ValueError("backreferences and conditional groups are not accepted")
        if op in _REPEATS:
            low, high, body = av
            if high != 1 and _has(body, _REPEATS, variable_only=True):
                raise ValueError("a repeat inside a repeat (such as (a+)+) is not accepted")
            if low != high and _has(body, {sre_constants.BRANCH}):
                raise ValueError("an alternation inside a repeat (such as (a|b)*) is not accepted")
            if high == _UNBOUNDED:
                cost.unbounded += 1
            else:
                cost.span *= high - low + 1
        for child in _children(op, av):
            _walk(child, cost)


def check_pattern(pattern: str) -> str:
    """``pattern`` if it compiles and its worst case is bounded (module docstring); else a
    ValueError saying why."""
    if len(pattern) > MAX_REGEX_LENGTH:
        raise ValueError(f"a pattern is at most {MAX_REGEX_LENGTH} characters")
    try:
        re.compile(pattern)
        parsed = sre_parser.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    cost = _Cost()
    _walk(parsed, cost)
    items = list(parsed)
    anchored = bool(items) and items[0][0] is sre_constants.AT and items[0][1] in _ANCHORS
    factors = cost.unbounded + (0 if anchored else 1)
    if factors > MAX_UNBOUNDED_FACTORS:
        scan = "" if anchored else " and the unanchored search's scan over start positions"
        raise ValueError(
            f"{cost.unbounded} unbounded repeats (*, +, {{m,}}){scan} make {factors} factors"
            f" of the path's length; at most {MAX_UNBOUNDED_FACTORS} are allowed, so that a"
            " match stays fast: anchor the pattern with ^ or use fewer unbounded repeats"
        )
    if cost.span > MAX_BOUNDED_SPAN:
        raise ValueError(
            f"the bounded repeats (?, {{m,n}}) allow {cost.span} combinations; at most"
            f" {MAX_BOUNDED_SPAN} are allowed"
        )
    return pattern
