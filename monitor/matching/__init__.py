"""Watchlist matching: the query language, the compiled index over all queries, and hits.

from monitor.matching import compile_query, compile_watchlists
compile_query("طائرة مسيرة").search(text)            -> [Hit, ...]
compile_watchlists({"drones": ["طائرة مسيرة"]}).match(text) -> {"drones": [Hit, ...]}
"""

from monitor.matching.hits import Hit, snippet
from monitor.matching.index import (
    CompiledEntry,
    CompiledQuery,
    WatchlistIndex,
    compile_query,
    compile_watchlists,
)
from monitor.matching.parser import DEFAULT_SLOP, parse_query
from monitor.matching.synonyms import Synonyms

__all__ = [
    "DEFAULT_SLOP",
    "CompiledEntry",
    "CompiledQuery",
    "Hit",
    "Synonyms",
    "WatchlistIndex",
    "compile_query",
    "compile_watchlists",
    "parse_query",
    "snippet",
]
