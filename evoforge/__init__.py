"""evoforge: distributed evolutionary and meta-learning search.

One engine (genomes proposed by a searcher, evaluated in parallel by Ray actors, logged and checkpointed)
and the systems built on it. See docs/ and the README for the layout and worked examples.
"""

__version__ = "0.1.0"
