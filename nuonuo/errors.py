"""Typed errors. Every failure a person can cause or fix is a ``NuonuoError``.

The CLI prints ``error: <message>`` on stderr and exits with ``exit_code``;
the daemon answers with ``http_status`` and a JSON body ``{"error": kind, "detail": message}``.
"""

from __future__ import annotations


class NuonuoError(Exception):
    """Base of every error nuonuo raises on purpose."""

    kind = "error"
    exit_code = 1
    http_status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict:
        return {"error": self.kind, "detail": self.message}


class InvalidInput(NuonuoError):
    """The caller gave something nuonuo cannot store or answer (empty text, k <= 0, …)."""

    kind = "invalid_input"
    exit_code = 2
    http_status = 422


class NotFound(NuonuoError):
    """An id, key or namespace that does not exist."""

    kind = "not_found"
    exit_code = 3
    http_status = 404


class ConfigError(NuonuoError):
    """The configuration file or an environment variable is malformed."""

    kind = "config_error"
    exit_code = 4
    http_status = 500


class ModelMissing(NuonuoError):
    """A model file or package is not installed; the message says what to install."""

    kind = "model_missing"
    exit_code = 5
    http_status = 503


class StoreLocked(NuonuoError):
    """Another process owns the store for writing."""

    kind = "store_locked"
    exit_code = 6
    http_status = 409


class StoreError(NuonuoError):
    """The store on disk failed: unreadable, not writable, or from a newer nuonuo. The message is
    one sentence: what failed, which table (and file), whether anything acknowledged was lost, and
    what to do."""

    kind = "store_error"
    exit_code = 7
    http_status = 500


class StoreFull(StoreError):
    """A write found the disk full (or over a file-size limit): the write was not stored."""

    kind = "store_full"
    http_status = 507


class StoreDamaged(StoreError):
    """A file of the store cannot be read back: ``nuonuo doctor --repair`` restores it."""

    kind = "store_damaged"
    http_status = 500


class PayloadTooLarge(InvalidInput):
    """A request body over the daemon's ``[daemon] max_body_bytes``."""

    kind = "too_large"
    http_status = 413


class Unauthorized(NuonuoError):
    """A TCP request to the daemon without its bearer token."""

    kind = "unauthorized"
    exit_code = 8
    http_status = 401


class DaemonError(NuonuoError):
    """The daemon is not running, not answering, or already running."""

    kind = "daemon_error"
    exit_code = 9
    http_status = 503
