"""The routers of ``/api/v1`` and the operational endpoints."""

from __future__ import annotations

from fastapi import APIRouter

from skinscan.serve.routes import ops, patients, visits

__all__ = ["api_router", "ops_router"]

api_router = APIRouter()
api_router.include_router(patients.router)
api_router.include_router(visits.router)

ops_router = ops.router
