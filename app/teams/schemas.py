"""Schemas shared by the teams capability's sub-packages."""

from __future__ import annotations

from pydantic import BaseModel


class Pagination(BaseModel):
    cursor: str | None
    has_more: bool
    total: int
