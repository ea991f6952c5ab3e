"""PCGRL: level design as a game (Khalifa et al. 2020, arXiv 2001.09212).

* :mod:`~evoforge.envs.pcgrl.problems`: binary, zelda, sokoban -- statistics, reward, success, validity;
* :mod:`~evoforge.envs.pcgrl.representations`: narrow, turtle, wide -- actions and egocentric observations;
* :mod:`~evoforge.envs.pcgrl.simulator`: the episode mechanics for M maps at once;
* :mod:`~evoforge.envs.pcgrl.env`: :class:`PCGRLEnv` (registered as ``evoforge/pcgrl-{problem}-{rep}-v0``) and
  the batched :class:`PCGRLVectorEnv`;
* :mod:`~evoforge.envs.pcgrl.metrics` (per map, the reference) and :mod:`~evoforge.envs.pcgrl.batched_metrics`
  (a batch at once, tested equal; also :func:`hamming_diversity` of a set of levels);
  :mod:`~evoforge.envs.pcgrl.sokoban`, the solver; :mod:`~evoforge.envs.pcgrl.render`.

Evolved generators run on these maps in :mod:`evoforge.policies.level_generation` (policies may import envs,
not the other way round).
"""

from evoforge.envs.pcgrl.batched_metrics import hamming_diversity
from evoforge.envs.pcgrl.env import PCGRLEnv, PCGRLVectorEnv
from evoforge.envs.pcgrl.problems import make_problem
from evoforge.envs.pcgrl.representations import make_representation

__all__ = ["PCGRLEnv", "PCGRLVectorEnv", "hamming_diversity", "make_problem", "make_representation"]
