"""Rasa's Redis lock store, made safe for several Rasa servers.

Rasa 3.6's RedisLockStore reads a conversation's ticket lock, changes it
and writes it back in separate steps. Two servers receiving one person's
messages at the same moment can then both draw the first ticket and handle
the messages at once, and the second server's events are lost (RasaHQ/rasa
#9213; seen here in tests/system/test_multi_machine.py before this class). Here
every change of a lock is one Redis transaction (WATCH/MULTI/EXEC, retried
when another server changed the lock in between).

Selected in deploy/endpoints.multi.yml as `type: ops.lock_store.AtomicRedisLockStore`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

T = TypeVar("T")


class AtomicRedisLockStore(RedisLockStore):
    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        if endpoint_config is not None:  # built by Rasa from endpoints.yml
            kwargs = {"host": endpoint_config.url, **endpoint_config.kwargs}
        super().__init__(**kwargs)

    def _change(self, conversation_id: str, change: Callable[[TicketLock | None], tuple[TicketLock | None, T]]) -> T:
        """Apply `change` to the stored lock atomically; a lock without
        tickets is deleted (nobody holds it or waits for it)."""
        key = self.key_prefix + conversation_id
        with self.red.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    lock, result = change(TicketLock.from_dict(json.loads(raw)) if raw else None)
                    pipe.multi()
                    if lock is None or not lock.tickets:
                        pipe.delete(key)
                    else:
                        pipe.set(key, lock.dumps())
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue  # another server changed the lock: read it again

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        def take(lock: TicketLock | None) -> tuple[TicketLock, int]:
            lock = lock or TicketLock(conversation_id)
            return lock, lock.issue_ticket(lock_lifetime)

        try:
            return self._change(conversation_id, take)
        except redis.RedisError as exc:
            raise LockError(f"Error while acquiring lock. Error:\n{exc}") from exc

    def update_lock(self, conversation_id: str) -> None:
        def expire(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock:
                lock.remove_expired_tickets()
            return lock, None

        self._change(conversation_id, expire)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        def done(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock:
                lock.remove_ticket_for(ticket_number)
            return lock, None

        self._change(conversation_id, done)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        self.finish_serving(conversation_id, ticket_number)  # deletes the lock once nobody waits
