"""All routes of the teams capability, for app.main to include."""

from __future__ import annotations

from fastapi import APIRouter

from app.teams.invitations.router import router as invitations_router
from app.teams.members.router import router as members_router
from app.teams.ownership.router import router as ownership_router
from app.teams.teams.router import router as teams_router

router = APIRouter()
for _sub in (teams_router, invitations_router, members_router, ownership_router):
    router.include_router(_sub)
