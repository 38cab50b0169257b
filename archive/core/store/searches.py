"""The search log: what members searched for and how many answers they got.

Only the query text, the number of results and the time are kept: no address, account or
session, so staff can see what the archive is missing without tracking anyone.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlite_utils import Database

from archive.core.store.recordings import utc_now


@dataclass
class SearchCount:
    query: str
    times: int
    last_at: str
    results: int  # answers the most recent time


def log_search(db: Database, query: str, results: int) -> None:
    db.table("search_log").insert({"query": query, "results": int(results), "created_at": utc_now()})


def search_counts(db: Database, *, empty_only: bool = False, limit: int = 100) -> list[SearchCount]:
    """Queries grouped case-insensitively, most asked first; ``empty_only`` for those that found nothing."""
    where = "WHERE results = 0" if empty_only else ""
    rows = db.execute(
        f"""
        SELECT MIN(query), COUNT(*), MAX(created_at),
               (SELECT l2.results FROM search_log l2 WHERE lower(l2.query) = lower(l.query)
                ORDER BY l2.id DESC LIMIT 1)
        FROM search_log l {where}
        GROUP BY lower(query) ORDER BY COUNT(*) DESC, MAX(created_at) DESC LIMIT ?
        """,
        [limit],
    ).fetchall()
    return [SearchCount(*row) for row in rows]
