"""Starting or joining Ray, in one place (the evaluator pool and the ablation runner both come here).

The embedded default is a local Ray that the run starts itself, with one CPU per core; ``address`` ("auto" or
HOST:PORT) joins a cluster started with ``ray start`` instead. Whoever started Ray shuts it down.
"""

from __future__ import annotations

import logging
import os
import socket

from evoforge.errors import PoolError, UserError

CONNECT_TIMEOUT_S = 10.0  # how long to wait for a cluster's head to answer (pool.connect_timeout_s)


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Raise :class:`UserError` (one line, exit 2) unless the Ray head at HOST:PORT accepts a TCP connection
    within ``timeout_s`` seconds. Ray itself would retry for minutes, printing its own log lines; "auto" and
    ``ray://`` addresses are left to Ray (it resolves them, and fails fast when there is nothing to find)."""
    if address == "auto" or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--address {address!r}: expected 'auto' or HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise UserError(f"cannot reach the Ray cluster at {address} within {timeout_s:g} s ({reason}); is "
                        f"`ray start --head` running there?") from None


def head_reachable(gcs_address: str, timeout_s: float = 2.0) -> bool:
    """Whether the head's GCS at HOST:PORT accepts a TCP connection within ``timeout_s`` (the pool's check
    that its cluster is still there; Ray's own client keeps retrying for a minute, then ends the process)."""
    host, _, port = gcs_address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except (OSError, ValueError):
        return False
    return True


def start_ray(address: str | None = None, num_cpus: int | None = None, log_to_driver: bool = True,
              connect_timeout_s: float = CONNECT_TIMEOUT_S) -> bool:
    """Join ``address`` or start a local Ray with ``num_cpus`` (default: every core); no-op when Ray is up.

    Returns True when this call started Ray (the caller shuts it down). An ``address`` whose head does not
    answer within ``connect_timeout_s`` raises :class:`UserError`; otherwise :class:`PoolError` with one line
    when Ray cannot be started or joined.
    """
    import ray

    if address:  # checked even when Ray is already up: an address given is an address to reach
        check_reachable(address, connect_timeout_s)
    if ray.is_initialized():
        return False
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=log_to_driver)
        else:
            ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, logging_level=logging.WARNING,
                     log_to_driver=log_to_driver)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise PoolError(f"cannot start or join Ray (address={address!r}): {str(exc).splitlines()[0]}") from None
    return True


def stop_ray() -> None:
    """Shut Ray down in this process (safe when it is not running)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
