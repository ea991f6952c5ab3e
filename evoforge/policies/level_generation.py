"""Running evolved PCGRL level generators: a chunk of genomes on seeded random maps in one batched simulator.

A generator (:mod:`evoforge.policies.level_generators`) edits K random starting maps per genome:

* narrow / turtle / wide: PCGRL episodes under the reference's rules (Khalifa et al. 2020: change budget
  ``change_percentage`` x W x H, success test); a map's score is its episode return, the sum of the paper's
  delta rewards;
* nca: the automaton rewrites the whole map for up to ``nca_steps`` steps (Earle et al. 2022); a map's score is
  the problem's reward of the whole rewrite, ``reward(final stats, initial stats)`` -- the same range-reward terms.

Actions are the argmax of the logits, so a generation depends only on the genome and the maps' seeds. This module
knows nothing of seeds' origins: the caller passes one seed per starting map.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from evoforge.envs.pcgrl.batched_metrics import hamming_diversity
from evoforge.envs.pcgrl.problems import Problem
from evoforge.envs.pcgrl.representations import make_representation, observation_channels
from evoforge.envs.pcgrl.simulator import PCGRLSimulator
from evoforge.policies.level_generators import CropConvPolicy, FullyConvPolicy, NCAGenerator

__all__ = ["PATH_STAT", "Generated", "LevelGeneration", "make_generator", "play_episodes"]

# The statistic reported as a level's path: the longest shortest path, or the solver's solution length.
PATH_STAT = {"binary": "path-length", "zelda": "path-length", "sokoban": "solution-length"}

Generator = CropConvPolicy | FullyConvPolicy | NCAGenerator


def make_generator(problem: Problem, representation: str, width: int = 0, nca_steps: int = 50) -> Generator:
    """The generator network for ``representation``: an NCA, a fully convolutional policy (wide) or a conv
    policy on the egocentric crop (narrow, turtle). ``width`` 0 picks 8 (narrow, turtle), 16 (wide), 32 (nca)."""
    if representation == "nca":
        return NCAGenerator(problem.num_tiles, problem.border_tile, width or 32, nca_steps)
    rep = make_representation(representation)
    channels = observation_channels(problem)
    if representation == "wide":
        return FullyConvPolicy(channels, problem.num_tiles, width or 16)
    return CropConvPolicy(channels, rep.crop_size(problem), rep.action_space(problem).n, width or 8)


@dataclass
class Generated:
    """What a chunk of generators produced from its seeded random maps (G genomes x K maps each)."""

    initial: dict[str, np.ndarray]  # statistics of the starting maps, flat (G * K,)
    levels: np.ndarray  # final levels (G, K, H, W)
    final: dict[str, np.ndarray]  # their statistics, flat (G * K,)
    scores: np.ndarray  # (G, K) episode returns (or the NCA's reward of the rewrite)
    steps: np.ndarray  # (G,) map-steps per genome: edits attempted, or NCA steps x maps
    frames: list[np.ndarray] = field(default_factory=list)  # (G, K, H, W) after every step, when recorded

    def valid(self, problem: Problem) -> np.ndarray:
        """(G, K) booleans: the final level is valid under the paper-era definitions."""
        return np.asarray(problem.valid(self.final), dtype=bool).reshape(self.scores.shape)

    def path(self, problem: Problem) -> np.ndarray:
        """(G, K) path lengths (solution lengths for sokoban) of the final levels."""
        return np.asarray(self.final[PATH_STAT[problem.name]], dtype=float).reshape(self.scores.shape)

    def diversity(self) -> np.ndarray:
        """(G,) mean pairwise Hamming distance between each genome's final levels, per tile."""
        return np.array([hamming_diversity(levels) for levels in self.levels])


class LevelGeneration:
    """Runs G generator genomes on K seeded random maps each, all G x K maps in one simulator.

    ``generate(genomes, map_seeds)`` takes ``map_seeds[g][k]``, the seed of genome g's starting map k; a
    genome's result depends only on its weights and its maps' seeds, not on the rest of the chunk.
    """

    def __init__(self, problem: Problem, representation: str, change_percentage: float = 0.2,
                 max_iterations: int | None = None, width: int = 0, nca_steps: int = 50,
                 early_stop: bool = True, device: torch.device | str = "cpu") -> None:
        self.problem = problem
        self.representation = representation
        self.change_percentage = change_percentage
        self.max_iterations = max_iterations
        self.early_stop = early_stop  # False: only the budgets end an episode (the reference's evaluation)
        self.generator = make_generator(problem, representation, width, nca_steps)
        self.device = torch.device(device)  # where the networks run; maps and scores stay numpy on the CPU

    @property
    def num_params(self) -> int:
        """Number of weights of one generator (the genome's length)."""
        return self.generator.num_params

    def generate(self, genomes: torch.Tensor | np.ndarray, map_seeds: Sequence[Sequence[int]],
                 record: bool = False, start_probs: np.ndarray | None = None) -> Generated:
        """Run every genome on its starting maps; with ``record``, the (G, K, H, W) levels after every step.
        ``start_probs``: (G * K, N) tile probabilities of the starting maps (default: the problem's)."""
        problem = self.problem
        count, maps = len(map_seeds), len(map_seeds[0])
        # the NCA rewrites whole maps: its simulator only draws the starting maps (any representation would do)
        representation = make_representation("narrow" if self.representation == "nca" else self.representation)
        sim = PCGRLSimulator(problem, representation, count * maps, self.change_percentage)
        sim.early_stop = self.early_stop
        if self.max_iterations is not None:
            sim.max_iterations = self.max_iterations
        sim.reset(np.arange(count * maps), [int(seed) for row in map_seeds for seed in row], probs=start_probs)
        initial = {key: values.copy() for key, values in sim.stats.items()}
        genomes = torch.as_tensor(np.asarray(genomes), dtype=torch.float32).to(self.device)
        if self.representation == "nca":
            start = sim.levels.reshape(count, maps, *sim.levels.shape[1:])
            levels, frames, nca_steps = self.generator.generate(genomes, start, record)
            final = problem.batch_stats(levels.reshape(-1, *levels.shape[2:]))
            scores, steps = problem.batch_reward(final, initial), nca_steps * maps
        else:
            scores, frames, steps = self._episodes(sim, genomes, count, maps, record)
            levels, final = sim.levels.reshape(count, maps, *sim.levels.shape[1:]), sim.stats
        return Generated(initial, levels, final, np.asarray(scores, dtype=np.float64).reshape(count, maps), steps,
                         frames)

    def _episodes(self, sim: PCGRLSimulator, genomes: torch.Tensor, count: int, maps: int, record: bool
                  ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
        """PCGRL episodes of every map until each one terminates or is truncated: (returns, frames, steps)."""
        params = self.generator.network.split(genomes)

        def act(observations: np.ndarray) -> np.ndarray:
            obs = torch.as_tensor(observations, dtype=torch.float32, device=genomes.device)
            obs = obs.reshape(count, maps, *obs.shape[1:]).transpose(0, 1)  # (K, G, ...): maps on the batch axis
            return self.generator.logits(params, obs).argmax(dim=-1).transpose(0, 1).reshape(-1).cpu().numpy()

        with torch.no_grad():
            returns, frames, steps = play_episodes(sim, act, record)
        frames = [frame.reshape(count, maps, *frame.shape[1:]) for frame in frames]
        return returns, frames, steps.reshape(count, maps).sum(axis=1)


def play_episodes(sim: PCGRLSimulator, act: Callable[[np.ndarray], np.ndarray], record: bool = False
                  ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Step every map of ``sim`` (freshly reset) with ``act`` (observations of all M maps -> M actions) until
    each episode terminates or is truncated; returns (M,) returns, the (M, H, W) maps after every step when
    ``record``, and (M,) steps per map. Any policy works: an evolved generator, a stable-baselines3 model."""
    count = sim.num_maps
    returns = np.zeros(count)
    done = np.zeros(count, dtype=bool)
    frames = [sim.levels.copy()] if record else []
    steps = np.zeros(count, dtype=np.int64)
    while not done.all():
        actions = np.asarray(act(sim.observe()), dtype=np.int64).reshape(-1)
        active = np.flatnonzero(~done)
        reward, terminated, truncated = sim.step(active, actions[active])
        returns[active] += reward
        done[active] = terminated | truncated
        steps[active] += 1
        if record:
            frames.append(sim.levels.copy())
    return returns, frames, steps
