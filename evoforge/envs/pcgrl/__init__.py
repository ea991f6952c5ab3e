"""PCGRL: level design as a game (Khalifa et al. 2020, arXiv 2001.09212). Work in progress (issue 4).

So far: the reference's map metrics (:mod:`evoforge.envs.pcgrl.metrics`) and the binary, zelda and sokoban problems' statistics,
reward and success test (:mod:`evoforge.envs.pcgrl.problems`), per map, with the reference's semantics, and the
Sokoban solver (:mod:`evoforge.envs.pcgrl.sokoban`).
"""
