"""The memory daemon: one process owns the store and serves the ``Memory`` API over a local socket.

``connect(home)`` returns a ``Client`` (same methods as ``Memory``) when a daemon runs, else None.
See docs/daemon.md.
"""

from nuonuo.daemon.client import Client, connect, connect_tcp

__all__ = ["Client", "connect", "connect_tcp"]
