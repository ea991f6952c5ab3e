"""Starting or joining Ray, in one place (the evaluator pool and the ablation runner both come here).

The embedded default is a local Ray that the run starts itself, with one CPU per core; ``address`` ("auto" or
HOST:PORT) joins a cluster started with ``ray start`` instead. Whoever started Ray shuts it down.
"""

from __future__ import annotations

import logging
import os

from evoforge.errors import PoolError


def start_ray(address: str | None = None, num_cpus: int | None = None, log_to_driver: bool = True) -> bool:
    """Join ``address`` or start a local Ray with ``num_cpus`` (default: every core); no-op when Ray is up.

    Returns True when this call started Ray (the caller shuts it down). Raises :class:`PoolError` with one
    line when Ray cannot be started or joined.
    """
    import ray

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
