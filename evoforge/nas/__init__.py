"""Neural architecture search and evolved layers.

* :mod:`~evoforge.nas.space`, :mod:`~evoforge.nas.network`: the NAS-Bench-201 cell space and its network;
* :mod:`~evoforge.nas.proxies`: zero-cost proxies of untrained networks (NASWOT and baselines);
* :mod:`~evoforge.nas.data`, :mod:`~evoforge.nas.training`: offline image data and short-schedule training;
* :mod:`~evoforge.nas.benchmark`: the offline benchmark -- a sweep over a fixed sample of cells (a searcher for
  the engine's run) and the statistics of its report (rank correlations, random-N replayed);
* :mod:`~evoforge.nas.diagrams`: cells as DAGs, scores in sampling order, proxies against accuracy;
* :mod:`~evoforge.nas.evonorm`, :mod:`~evoforge.nas.anchors`, :mod:`~evoforge.nas.evonorm_train`: evolvable
  normalization-activation layers, the architectures they are judged on, and the judging.

The engine does not depend on this package (this package uses the engine's genome and evaluation
types); experiments wire it to the engine.
"""
