"""Serialised JSON bodies of the hot reads, cached under the versions of what they show.

A visit's body (:class:`~skinscan.serve.schemas.VisitPublic`) is a function of the visit's row
and, once it is done, of its overlay files, which are published before the visit is marked done.
A patient's body and their progress view are functions of the patient (never updated) and of
all their visits' rows. So each body is cached under the versions of the visits it shows
(:func:`skinscan.serve.ledger.visit_version`: id, status, ``taken_at``, ``updated_at``,
attempts): every write of a visit, by any process, moves ``updated_at``, and every read compares
the versions its audited read saw (:class:`~skinscan.serve.ledger.ReadGrant`) with the cached
ones. A cached body is therefore never served for a visit that has changed since — no write path
has to remember to invalidate anything. An entry whose versions differ is rebuilt from the
database and replaces it; the least recently used entries go past a byte budget.

The bytes are those FastAPI would send for the same model (pydantic's JSON serialiser, by
alias), so cached and uncached answers are identical.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from skinscan.serve import crud
from skinscan.serve.ledger import NotFound, ReadGrant, VisitVersion, visit_version
from skinscan.serve.models import Visit
from skinscan.serve.store import PhotoStore
from skinscan.serve.views import patient_public, progress_public, visit_public

if TYPE_CHECKING:
    from skinscan.longitudinal.repeatability import RepeatabilityTable

__all__ = ["BodyCache", "BodyKind", "ReadBodies", "to_json"]

MiB = 1024 * 1024

#: The bodies served: a visit, a patient with their visits, a patient's progress view.
BodyKind = Literal["visit", "patient", "progress"]


def to_json(model: BaseModel) -> bytes:
    """A response model as FastAPI serialises it (pydantic's JSON, field aliases)."""
    return model.__pydantic_serializer__.to_json(model, by_alias=True)


class BodyCache:
    """Bodies by (kind, id), each with the versions it was built from; a byte budget.

    Parameters
    ----------
    max_bytes : int
        Total size of the bodies kept; the least recently used go first.
    """

    def __init__(self, max_bytes: int = 64 * MiB) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, not {max_bytes}")
        self.max_bytes = max_bytes
        self.size_bytes = 0
        self._entries: OrderedDict[tuple[str, str], tuple[tuple[VisitVersion, ...], bytes]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def get(self, kind: str, key: str, versions: tuple[VisitVersion, ...]) -> bytes | None:
        """The body of ``(kind, key)`` if it was built from exactly ``versions``."""
        with self._lock:
            entry = self._entries.get((kind, key))
            if entry is None or entry[0] != versions:
                return None
            self._entries.move_to_end((kind, key))
            return entry[1]

    def put(self, kind: str, key: str, versions: tuple[VisitVersion, ...], body: bytes) -> None:
        """Keep ``body`` for ``(kind, key)`` built from ``versions`` (replacing an older one)."""
        if len(body) > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop((kind, key), None)
            if old is not None:
                self.size_bytes -= len(old[1])
            self._entries[(kind, key)] = (versions, body)
            self.size_bytes += len(body)
            while self.size_bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self.size_bytes -= len(dropped)

    def clear(self) -> None:
        """Forget every body."""
        with self._lock:
            self._entries.clear()
            self.size_bytes = 0

    def __len__(self) -> int:
        return len(self._entries)


class ReadBodies:
    """The bodies of ``GET /visits/{id}``, ``GET /patients/{id}`` and ``…/progress``.

    Parameters
    ----------
    sessions : sessionmaker
        The service's sessions (a body that is not cached is built from the database).
    store : PhotoStore
        Where a visit's overlays are listed.
    table : callable
        Returns the repeatability table of the progress view.
    cache : BodyCache, optional
        Default: a new one of 64 MiB.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: PhotoStore,
        table: Callable[[], RepeatabilityTable],
        cache: BodyCache | None = None,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.table = table
        self.cache = cache if cache is not None else BodyCache()
        self._building: dict[tuple[Any, ...], asyncio.Task[bytes]] = {}

    async def visit(self, grant: ReadGrant) -> bytes:
        """The JSON of the granted visit (``VisitPublic``)."""
        return await self.body("visit", grant)

    async def patient(self, grant: ReadGrant) -> bytes:
        """The JSON of the granted patient with their visits (``PatientPublic``)."""
        return await self.body("patient", grant)

    async def progress(self, grant: ReadGrant) -> bytes:
        """The JSON of the granted patient's progress view (``ProgressPublic``)."""
        return await self.body("progress", grant)

    async def body(self, kind: BodyKind, grant: ReadGrant) -> bytes:
        """The JSON of ``kind`` for a granted read: cached, or built once and kept."""
        cached = self.cache.get(kind, grant.target_id, grant.versions)
        if cached is not None:
            return cached
        # Concurrent reads of a body that is not cached share one build (a progress view
        # compares every consecutive pair of visits the first time): a burst of first reads
        # would otherwise build it once per request and fill the thread pool.
        loop = asyncio.get_running_loop()
        key = (loop, kind, grant.target_id, grant.versions)
        build = self._building.get(key)
        if build is None:
            build = loop.create_task(self._build_and_keep(kind, grant))
            self._building[key] = build
            build.add_done_callback(lambda _: self._building.pop(key, None))
        return await asyncio.shield(build)

    async def _build_and_keep(self, kind: BodyKind, grant: ReadGrant) -> bytes:
        versions, body = await asyncio.to_thread(self.build, kind, grant)
        self.cache.put(kind, grant.target_id, versions, body)
        return body

    def build(self, kind: BodyKind, grant: ReadGrant) -> tuple[tuple[VisitVersion, ...], bytes]:
        """Build a body from the database: the versions it shows and its bytes.

        The versions are those of the rows just loaded (they may be newer than the grant's).

        Raises
        ------
        NotFound
            The visit or patient is gone from the caller's clinic.
        """
        clinic_id = grant.auth.clinic_id
        with self.sessions() as session:
            if kind == "visit":
                visit = crud.get_visit(session, clinic_id, grant.target_id)
                if visit is None:
                    raise NotFound()
                return (visit_version(visit),), to_json(visit_public(visit, self.store))
            patient = crud.get_patient(session, clinic_id, grant.target_id)
            if patient is None:
                raise NotFound()
            visits = crud.visits_of(session, patient.id)
            versions = _versions(visits)
            if kind == "patient":
                return versions, to_json(patient_public(patient, visits))
            return versions, to_json(progress_public(patient.id, visits, self.table()))


def _versions(visits: Sequence[Visit]) -> tuple[VisitVersion, ...]:
    return tuple(visit_version(visit) for visit in visits)
