"""The errors a user sees, in one place, with the exit code ``evoforge`` gives each.

* :class:`UserError` -- bad input (a config, a checkpoint, an argument): one line, exit code 2, nothing lost.
  :class:`ConfigError` and :class:`CheckpointError` are its two common kinds.
* :class:`SearchFailed` -- the search itself cannot go on: exit code 1. :class:`PoolError` (workers cannot
  start or keep dying, Ray unreachable) and :class:`TooManyFailures` (too many failed evaluations in one
  generation) are its kinds.

Every library module raises these; only ``evoforge.cli`` turns them into messages and exit codes.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


class ConfigError(UserError, ValueError):
    """A config that cannot be run; the message is one line and names the offending key."""


class CheckpointError(UserError, RuntimeError):
    """A checkpoint is missing, truncated, corrupt or from an incompatible version."""


class SearchFailed(RuntimeError):
    """The search cannot go on: exit code 1."""


class PoolError(SearchFailed):
    """The evaluator pool cannot go on (evaluator setup failed, actors keep dying, Ray unreachable)."""


class TooManyFailures(SearchFailed):
    """More evaluations of one batch failed than ``pool.max_failure_fraction`` allows."""
