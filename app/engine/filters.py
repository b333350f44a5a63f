r"""Which source files a sync takes: its ``file_filters`` (CONTRACT.md D22), all ANDed.

Decided in two steps, because a listing says less than a read does:

- ``FileFilter.admits_listed`` on what the listing gives (key, size, modification time): the
  patterns, sizes and times;
- ``FileFilter.admits_read`` on what reading the file adds: ``mime_types`` (a file passes when
  the type guessed from its name or its Content-Type matches) and ``metadata_filters`` (its
  user metadata). Every file a run takes is read anyway, to hash it, so this costs nothing more;
  a file refused here is left out of the job's ``total_files``.

Patterns are globs: one without ``/`` matches the file name, one with ``/`` the path below the
sync's ``source_path``; ``*`` and ``?`` stay within a path segment, ``**`` crosses segments.

``patterns`` (the older API's "regex patterns for filename matching") are Python regular
expressions, each searched for (``re.search``, not a full match: the vendor's example
``.*-processed\.jpg$`` anchors itself) in the path below ``source_path``; a file is taken when
one is found. Each is compiled once (``file_regex``); create refused any whose worst case is not
bounded (app/syncs/regexes.py). Like the globs, they are ANDed with the other filters.
"""

import mimetypes
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A compiled regular expression for a glob: ``*`` and ``?`` within a segment, ``**``
    across segments, ``[...]`` a character class; everything else literal."""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            index += 2
            if pattern.startswith("/", index):  # "**/" also matches no folder at all
                index += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", index + 2 if pattern.startswith("[!", index) else index + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[index + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body.replace(chr(92), chr(92) * 2)}]")
                index = end
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def glob_matches(pattern: str, relative_path: str) -> bool:
    """Whether a sync's pattern takes the file at ``relative_path`` (below ``source_path``)."""
    subject = relative_path if "/" in pattern else relative_path.rsplit("/", 1)[-1]
    try:
        return glob_regex(pattern).match(subject) is not None
    except re.error:  # a malformed character class matches nothing
        return False


@lru_cache(maxsize=256)
def file_regex(pattern: str) -> re.Pattern[str] | None:
    """A ``patterns`` entry, compiled once; None (matches nothing) if it does not compile."""
    try:
        return re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return None


def regex_matches(pattern: str, relative_path: str) -> bool:
    regex = file_regex(pattern)
    return regex is not None and regex.search(relative_path) is not None


def guessed_mime_type(name: str) -> str | None:
    mime_type, _ = mimetypes.guess_type(name, strict=False)
    return mime_type


def mime_type_matches(wanted: str, actual: str) -> bool:
    """``video/*`` matches any video type; otherwise equal, ignoring case and parameters."""
    wanted = wanted.strip().lower()
    actual = actual.split(";", 1)[0].strip().lower()
    if wanted.endswith("/*"):
        return actual.startswith(wanted[:-1])
    return wanted in ("*", "*/*") or wanted == actual


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "gt": lambda a, b: a > b,
    "lt": lambda a, b: a < b,
    "gte": lambda a, b: a >= b,
    "lte": lambda a, b: a <= b,
}


def metadata_matches(condition: Mapping[str, Any], metadata: Mapping[str, str]) -> bool:
    """One ``metadata_filters`` entry against a file's user metadata (S3 ``x-amz-meta-*``,
    whose names S3 gives in lower case). Values are compared as text; gt/lt/gte/lte as numbers
    when both sides are numbers."""
    field = str(condition.get("field", "")).lower()
    operator = condition.get("operator") or "contains"
    expected = condition.get("value")
    present = field in metadata
    actual = metadata.get(field, "")
    if operator == "exists":
        return present if expected is None or expected is True else not present
    if not present:
        return operator in ("not_equals", "not_contains")
    text = "" if expected is None else str(expected)
    if operator == "equals":
        return actual == text
    if operator == "not_equals":
        return actual != text
    if operator == "contains":
        return text in actual
    if operator == "not_contains":
        return text not in actual
    compare = _COMPARISONS.get(operator)
    left, right = _number(actual), _number(expected)
    return compare is not None and left is not None and right is not None and compare(left, right)


@dataclass(frozen=True)
class FileFilter:
    """A sync's ``file_filters``, ready to apply."""

    include_patterns: tuple[str, ...] = ()
    exclude_patterns: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    min_size_bytes: int | None = None
    max_size_bytes: int | None = None
    modified_after: datetime | None = None
    modified_before: datetime | None = None
    mime_types: tuple[str, ...] = ()
    metadata_filters: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def from_config(cls, file_filters: Mapping[str, Any] | None) -> "FileFilter":
        if not file_filters:
            return cls()

        def times(name: str) -> datetime | None:
            value = file_filters.get(name)
            if value is None:
                return None
            return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))

        return cls(
            include_patterns=tuple(file_filters.get("include_patterns") or ()),
            exclude_patterns=tuple(file_filters.get("exclude_patterns") or ()),
            patterns=tuple(file_filters.get("patterns") or ()),
            min_size_bytes=file_filters.get("min_size_bytes"),
            max_size_bytes=file_filters.get("max_size_bytes"),
            modified_after=times("modified_after"),
            modified_before=times("modified_before"),
            mime_types=tuple(file_filters.get("mime_types") or ()),
            metadata_filters=tuple(file_filters.get("metadata_filters") or ()),
        )

    @property
    def needs_read_check(self) -> bool:
        return bool(self.mime_types or self.metadata_filters)

    def admits_listed(self, relative_path: str, size: int, modified: datetime) -> bool:
        """What the listing can decide: patterns, sizes, modification times."""
        if self.include_patterns and not any(
            glob_matches(pattern, relative_path) for pattern in self.include_patterns
        ):
            return False
        if any(glob_matches(pattern, relative_path) for pattern in self.exclude_patterns):
            return False
        if self.patterns and not any(
            regex_matches(pattern, relative_path) for pattern in self.patterns
        ):
            return False
        if self.min_size_bytes is not None and size < self.min_size_bytes:
            return False
        if self.max_size_bytes is not None and size > self.max_size_bytes:
            return False
        if self.modified_after is not None and modified < self.modified_after:
            return False
        return not (self.modified_before is not None and modified > self.modified_before)

    def admits_read(
        self, relative_path: str, content_type: str, metadata: Mapping[str, str]
    ) -> bool:
        """What only reading the file tells: its Content-Type and its user metadata."""
        if self.mime_types:
            guessed = guessed_mime_type(relative_path)
            if not (
                (guessed is not None and self._mime_admitted(guessed))
                or self._mime_admitted(content_type)
            ):
                return False
        return all(metadata_matches(condition, metadata) for condition in self.metadata_filters)

    def _mime_admitted(self, mime_type: str) -> bool:
        return any(mime_type_matches(wanted, mime_type) for wanted in self.mime_types)
