"""Path globs of the journal's filters and the fault rules (CONTRACT.md D30, D31).

``*`` matches any run of characters within one path segment (no ``/``); ``**`` matches any run
of characters across segments (``/`` included, and nothing at all), so ``/v1/**/syncs`` also
matches ``/v1/syncs``. Every other character stands for itself. A glob matches the whole
decoded path, never its query string.
"""

import re
from functools import lru_cache

# A glob is at most this long: far beyond any path of the API, and a bounded regex to build.
MAX_GLOB_LENGTH = 1024


@lru_cache(maxsize=256)
def compile_glob(glob: str) -> re.Pattern[str]:
    parts: list[str] = []
    index = 0
    while index < len(glob):
        if glob.startswith("/**/", index):
            parts.append("(?:/.*)?/")
            index += 4
        elif glob.startswith("**", index):
            parts.append(".*")
            index += 2
        elif glob[index] == "*":
            parts.append("[^/]*")
            index += 1
        else:
            parts.append(re.escape(glob[index]))
            index += 1
    return re.compile("".join(parts), re.DOTALL)


def glob_matches(glob: str, path: str) -> bool:
    return compile_glob(glob).fullmatch(path) is not None
