"""Neural architecture search: cell spaces, zero-cost proxies, accuracy benchmarks, evolved layers.

Filled in by the NAS capabilities; the engine does not depend on it.
"""
