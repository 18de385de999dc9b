"""The routers of ``/api/v1`` and the operational endpoints."""

from __future__ import annotations

from fastapi import APIRouter

from skinscan.serve.routes import ops, patients, visits

__all__ = ["api_routers", "ops_router"]

#: The routers of ``/api/v1``, each included in the app directly: a router included in a
#: router is matched level by level on every request.
api_routers: tuple[APIRouter, ...] = (patients.router, visits.router)

ops_router = ops.router
