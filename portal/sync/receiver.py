"""The master's side of a push: authenticate, parse, validate, apply in one
transaction, acknowledge.

Each check returns an error document with an HTTP status and stores nothing of the
batch. The order: the signature and timestamp before the body is parsed, the nonce in its own
transaction (so a replay is caught even when the first request failed later), then the
whole batch in one transaction that a single bad item rolls back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from portal.db import Database, utcnow
from portal.errors import PortalError
from portal.registry.installed import is_installed
from portal.registry.registry import AppRegistry
from portal.sync.envelope import Ack, BatchItem, ItemResult, build_ack, build_error, parse_batch
from portal.sync.items import SyncItem, SyncRejected
from portal.sync.models import SyncNonce, SyncPeer
from portal.sync.peers import installation_id
from portal.sync.signing import (
    NONCE_TTL_SECONDS,
    SignatureRejected,
    SignedHeaders,
    check_signature,
    check_timestamp,
    read_headers,
)

logger = logging.getLogger(__name__)

MAX_ERROR_TEXT = 500


@dataclass(frozen=True)
class PushResponse:
    status: int
    body: bytes


class SyncReceiver:
    def __init__(self, db: Database, registry: AppRegistry) -> None:
        self._db = db
        self._registry = registry

    async def receive(self, headers: Mapping[str, str], body: bytes) -> PushResponse:
        """Handle one push request and return the acknowledgement or error document."""
        started = time.monotonic()
        peer: SyncPeer | None = None
        # Only a request signed with the child's secret, fresh and not replayed, may
        # change the child's health on this master. Anyone can name an installation id,
        # so earlier failures are logged but never recorded on the child.
        authentic = False
        try:
            signed = read_headers(headers)
            peer = await self._peer(signed)
            check_timestamp(signed)
            check_signature(peer.secret, signed, body)
            await self._claim_nonce(peer, signed.nonce)
            authentic = True
            batch = parse_batch(body)
            if batch.installation_id != signed.installation_id:
                raise PortalError(f"The batch names installation {batch.installation_id}, "
                                  f"but the request is signed by {signed.installation_id}.",
                                  code="installation_mismatch", status=400)
            ack = await self._apply(peer, batch.id, batch.items)
        except PortalError as error:
            if peer is not None and authentic:
                await self._record_error(peer, error)
            logger.warning("Rejected a sync push from %s: %s %s", peer.installation_id
                           if peer else "an unknown installation", error.code, error.message)
            return PushResponse(error.status, build_error(error.code, error.status,
                                                          error.message))
        logger.info("Applied sync batch %s from %s (%s items) in %.3f s", ack.batch_id,
                    peer.installation_id, len(ack.results), time.monotonic() - started)
        return PushResponse(200, build_ack(ack))

    async def _peer(self, signed: SignedHeaders) -> SyncPeer:
        async with self._db.read() as session:
            peer = (await session.exec(select(SyncPeer).where(
                SyncPeer.installation_id == signed.installation_id))).first()
        if peer is None:
            raise SignatureRejected(f"Installation {signed.installation_id} is not registered "
                                    "here; register it with `python -m portal sync "
                                    "register-child` on the master.",
                                    code="unknown_installation", status=403)
        return peer

    async def _claim_nonce(self, peer: SyncPeer, nonce: str) -> None:
        now = utcnow()
        assert peer.id is not None
        try:
            async with self._db.transaction() as session:
                await session.exec(delete(SyncNonce).where(col(SyncNonce.expires_at) < now))
                session.add(SyncNonce(peer_id=peer.id, nonce=nonce,
                                      expires_at=now + timedelta(seconds=NONCE_TTL_SECONDS)))
        except IntegrityError as error:
            raise SignatureRejected(f"Nonce {nonce!r} was already used; every request needs "
                                    "a new nonce.", code="replayed_request",
                                    status=409) from error

    async def _apply(self, peer: SyncPeer, batch_id: str, items: list[BatchItem]) -> Ack:
        results: dict[int, ItemResult] = {}
        async with self._db.transaction() as session:
            own_id = await installation_id(session)
            # One check per app, not per item: a query would also flush the session
            # before every item.
            accepted: dict[str, bool] = {}
            for item in items:
                app = self._registry.apps.get(item.app_id)
                applier = app.backend.sync_applier if app is not None else None
                if item.app_id not in accepted:
                    accepted[item.app_id] = applier is not None and await is_installed(
                        session, self._registry, peer.tenant_id, item.app_id)
                if app is None or applier is None or not accepted[item.app_id]:
                    raise SyncRejected(f"Item {item.id} is for app {item.app_id!r}, which "
                                       "does not accept sync documents in the master's "
                                       "workspace; install it there.", code="unknown_app",
                                       status=422)
                result = await applier(app.context, session, SyncItem(
                    installation_id=peer.installation_id, peer_name=peer.name,
                    tenant_id=peer.tenant_id, workspace=item.workspace, stream=item.stream,
                    item_id=item.id, created=item.created, payload=item.payload))
                results[item.id] = "applied" if result == "applied" else "duplicate"
            stored = await session.get(SyncPeer, peer.id)
            assert stored is not None
            stored.last_contact_at = stored.last_success_at = utcnow()
            stored.batches_received += 1
            stored.items_applied += sum(1 for value in results.values() if value == "applied")
            session.add(stored)
        return Ack(batch_id=batch_id, installation_id=own_id, results=results)

    async def _record_error(self, peer: SyncPeer, error: PortalError) -> None:
        async with self._db.transaction() as session:
            stored = await session.get(SyncPeer, peer.id)
            if stored is None:
                return
            stored.last_contact_at = stored.last_error_at = utcnow()
            stored.error_count += 1
            stored.last_error = f"{error.code}: {error.message}"[:MAX_ERROR_TEXT]
            session.add(stored)
