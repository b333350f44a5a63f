"""Offset pagination shared by every list route (CONTRACT.md D12)."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query

from app.db.database import Database, Row
from app.errors import validation_error
from app.schemas import Pagination

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000
MAX_OFFSET = 10000


@dataclass(frozen=True, slots=True)
class Page:
    """Which slice of a list to answer: ``limit`` rows after skipping ``offset``."""

    offset: int
    limit: int

    def describe(self, total: int, path: str) -> Pagination:
        """The pagination block for a slice of ``total`` rows, with links relative to ``path``.

        ``page`` is the number of the page the window starts in, of ``limit`` rows each. The
        links name exactly the windows before and after this one, continuing from the real
        offset: as ``page``/``page_size`` when the window starts on a page boundary, else as
        ``offset``/``limit``; so following ``next_page`` never repeats or skips a row. Past the
        end the page is empty, ``next_page`` null, and ``previous_page`` the last window that
        holds rows.
        """
        page = self.offset // self.limit + 1
        total_pages = -(-total // self.limit)

        def link(offset: int) -> str:
            if offset % self.limit == 0:
                query = {"page": offset // self.limit + 1, "page_size": self.limit}
            else:
                query = {"offset": offset, "limit": self.limit}
            return f"{path}?{urlencode(query)}"

        previous = None
        if self.offset > 0:
            last_start = (total - 1) // self.limit * self.limit if total else 0
            previous = link(min(max(self.offset - self.limit, 0), last_start))
        return Pagination(
            total=total,
            page=page,
            page_size=self.limit,
            total_pages=total_pages,
            next_page=link(self.offset + self.limit) if self.offset + self.limit < total else None,
            previous_page=previous,
            next_cursor=None,
        )


def page_query(default_page_size: int = DEFAULT_PAGE_SIZE) -> Any:
    """The D12 query parameters of a list, as a dependency: ``limit``/``offset`` or
    ``page``/``page_size`` (``limit`` wins over ``page_size``), ``default_page_size`` rows when
    neither size is given.

    Totals are always counted (integers, never null), so ``include_total`` is accepted and has
    no further effect.
    """

    async def page_parameters(
        limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)] = None,
        offset: Annotated[int | None, Query(ge=0, le=MAX_OFFSET)] = None,
        page: Annotated[int | None, Query(ge=1, le=MAX_OFFSET + 1)] = None,
        page_size: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)] = None,
        include_total: Annotated[bool, Query()] = True,
    ) -> Page:
        size = limit or page_size or default_page_size
        if page is None:
            return Page(offset=offset or 0, limit=size)
        return checked_page(offset=(page - 1) * size, limit=size, source=("query", "page"))

    return page_parameters


def checked_page(*, offset: int, limit: int, source: tuple[str, str]) -> Page:
    """A page whose offset, however it was reached (``page`` times ``page_size``, or a body's
    ``offset``), is within the bound ``offset`` itself has; else a 422 naming ``source``."""
    if offset > MAX_OFFSET:
        raise validation_error(
            [
                {
                    "type": "less_than_equal",
                    "loc": source,
                    "msg": f"The page would start at row {offset}; no page starts past row"
                    f" {MAX_OFFSET}, however it is asked for",
                }
            ]
        )
    return Page(offset=offset, limit=limit)


PageDep = Annotated[Page, Depends(page_query())]


# A page's rows are read this many at a time as it is sent: ~1.6 MB of the largest records, a
# millisecond or two of work between two chances for the event loop to serve someone else.
PAGE_BATCH_ROWS = 50


class PageRows:
    """The rows of one page, in page order, read from the database a batch at a time.

    Which rows make the page is decided once, by one statement over their keys alone; each
    record is then read (and decoded, see ``Rows``) as it is sent. A record deleted meanwhile
    is left out, one changed meanwhile is sent as it now is: the same as if the change had
    come a moment earlier or later. Reading the page whole in one statement took ~100 ms on
    the event loop for 1000 records of 32 KiB (SQLite's sorter carried every row whole), read
    by key it is a millisecond or two per batch, with the loop free in between
    (app/responses.py, ``page_response``).
    """

    __slots__ = ("_db", "_keys", "_sql")

    def __init__(self, db: Database, *, table: str, key: str, order_by: str, keys: list[Any]):
        self._db = db
        self._keys = keys
        self._sql = f"SELECT * FROM {table} WHERE {key} IN ({{marks}}) ORDER BY {order_by}"

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[Row]:
        for start in range(0, len(self._keys), PAGE_BATCH_ROWS):
            batch = self._keys[start : start + PAGE_BATCH_ROWS]
            yield from self._db.rows(self._sql.format(marks=", ".join("?" * len(batch))), batch)


def fetch_page(
    db: Database,
    *,
    table: str,
    key: str,
    where: str,
    params: Sequence[Any],
    order_by: str,
    page: Page,
) -> tuple[PageRows, int]:
    """One page of ``table``'s rows matching ``where`` (read as they are iterated: send them
    with ``page_response``), and how many match in all.

    ``key`` is the table's primary key. ``table``, ``key``, ``where`` and ``order_by`` come
    from code; request values travel in ``params``.
    """
    total: int = db.scalar(f"SELECT COUNT(*) FROM {table} WHERE {where}", params)
    keys = db.column(
        f"SELECT {key} FROM {table} WHERE {where} ORDER BY {order_by} LIMIT ? OFFSET ?",
        [*params, page.limit, page.offset],
    )
    return PageRows(db, table=table, key=key, order_by=order_by, keys=keys), total


def where_equal(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    """A ``where`` clause ANDing ``column = value`` for every filter that is not None.

    Column names come from code; values travel as parameters.
    """
    given = {column: value for column, value in filters.items() if value is not None}
    clause = " AND ".join(f"{column} = ?" for column in given) or "1 = 1"
    return clause, list(given.values())


def name_contains(column: str, search: str, *, case_sensitive: bool) -> tuple[str, list[Any]]:
    """A ``where`` clause (and its parameter) matching names that contain ``search``."""
    if case_sensitive:
        return f"instr({column}, ?) > 0", [search]
    return f"instr(lower({column}), lower(?)) > 0", [search]
