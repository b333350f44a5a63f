"""Path globs of the journal's filters and the fault rules (CONTRACT.md D30, D31).

``*`` matches any run of characters within one path segment (no ``/``); ``**`` matches any run
of characters across segments (``/`` included, and nothing at all), so ``/v1/**/syncs`` also
matches ``/v1/syncs``. Every other character stands for itself. A glob matches the whole
decoded path, never its query string.

Matching takes time linear in the glob's length times the path's (in machine words), whatever
the glob: it follows every way the glob could match at once, as the set of path positions the
glob's prefix can have reached, held in the bits of one integer. A backtracking regex, the
obvious translation, takes time exponential in the number of wildcards: ``/v1/**a**a**a…X``
against a path of many ``a`` ran for minutes on the event loop, and a fault rule is tried on
every request to ``/v1`` (any key holder chooses the path).
"""

from functools import lru_cache

# A glob is at most this long: far beyond any path of the API, and bounded work to match.
MAX_GLOB_LENGTH = 1024

# The glob's parts besides literal text.
_SEGMENT = 1  # "*": any run of characters but "/"
_ANYTHING = 2  # "**": any run of characters
_SLASH_ANY_SLASH = 3  # "/**/": "/" or "/.../", so that "/v1/**/syncs" matches "/v1/syncs"

Part = int | str


@lru_cache(maxsize=256)
def parse_glob(glob: str) -> tuple[Part, ...]:
    parts: list[Part] = []
    index = 0
    while index < len(glob):
        if glob.startswith("/**/", index):
            parts.append(_SLASH_ANY_SLASH)
            index += 4
        elif glob.startswith("**", index):
            if not parts or parts[-1] != _ANYTHING:  # "****" is "**"
                parts.append(_ANYTHING)
            index += 2
        elif glob[index] == "*":
            parts.append(_SEGMENT)
            index += 1
        else:
            last = parts[-1] if parts else None
            if isinstance(last, str):
                parts[-1] = last + glob[index]
            else:
                parts.append(glob[index])
            index += 1
    return tuple(parts)


class _Path:
    """A path, with the bit masks of where each character is (bit p: ``path[p]``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.length = len(path)
        # Positions 0..length: bit p set means "the glob so far matched path[:p]".
        self.every = (1 << (self.length + 1)) - 1
        self._masks: dict[str, int] = {}

    def where(self, char: str) -> int:
        mask = self._masks.get(char)
        if mask is None:
            bits = "".join("1" if c == char else "0" for c in reversed(self.path))
            mask = int(bits, 2) if bits else 0
            self._masks[char] = mask
        return mask

    def literal(self, reached: int, text: str) -> int:
        for char in text:
            reached = (reached & self.where(char)) << 1
            if not reached:
                break
        return reached

    def anything(self, reached: int) -> int:
        """Every position from the first one reached on."""
        if not reached:
            return 0
        lowest = reached & -reached
        return self.every & ~(lowest - 1)

    def segment(self, reached: int) -> int:
        """Every position reachable by stepping over characters other than "/" (a
        Kogge-Stone fill: after round k, every position within 2**k - 1 steps)."""
        steps = self.every >> 1 & ~self.where("/")  # p: path[p] may be stepped over
        shift = 1
        while steps and shift <= self.length:
            reached |= (reached & steps) << shift
            steps &= steps >> shift
            shift <<= 1
        return reached & self.every


def glob_matches(glob: str, path: str) -> bool:
    target = _Path(path)
    reached = 1  # the empty prefix matched at position 0
    for part in parse_glob(glob):
        if isinstance(part, str):
            reached = target.literal(reached, part)
        elif part == _SEGMENT:
            reached = target.segment(reached)
        elif part == _ANYTHING:
            reached = target.anything(reached)
        else:  # "/**/": "/", then either nothing more or anything and "/"
            after_slash = target.literal(reached, "/")
            reached = after_slash | target.literal(target.anything(after_slash), "/")
        if not reached:
            return False
    return bool(reached >> target.length & 1)
