"""Watchlist matching: queries, the compiled index over all of them, and hits.

from monitor.matching import compile_query, compile_watchlists
compile_query("طائرة مسيرة").search(text)            -> [Hit, ...]
compile_watchlists({"drones": ["طائرة مسيرة"]}).match(text) -> {"drones": [Hit, ...]}
"""

from monitor.matching.hits import Hit, snippet
from monitor.matching.index import CompiledQuery, WatchlistIndex, compile_query, compile_watchlists

__all__ = [
    "CompiledQuery",
    "Hit",
    "WatchlistIndex",
    "compile_query",
    "compile_watchlists",
    "snippet",
]
