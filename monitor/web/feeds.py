"""Each watchlist's matches as an Atom feed (being written)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
