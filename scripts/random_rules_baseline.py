"""Random-rule baseline: how far Hebbian networks go with rule sets that were never evolved.

Draws ``--genomes`` genomes as a Hebbian config's generation-0 centre is drawn (N(0, coefficient_std^2); genome
k from torch seed ``1000 + k``) and plays ``--episodes`` episodes of each on every morphology, the episodes
``evoforge replay RUN --seed 2020 --episodes 5`` plays for an evolved genome (``--eval-seed``; episode k from
seed ``episode_seeds(2020, episodes)[k]``). Prints mean +- std over genomes of each genome's mean return, and
the best genome.

    python scripts/random_rules_baseline.py                               # 20 genomes x 5 episodes
    python scripts/random_rules_baseline.py --config configs/hebbian_quadruped.yaml
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from evoforge.experiments import load_experiment

ROOT = Path(__file__).resolve().parent.parent
MORPHOLOGIES = ("evoforge/Quadruped-v0", "evoforge/QuadrupedDamagedRightFront-v0",
                "evoforge/QuadrupedDamagedLeftFront-v0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "hebbian_quadruped_quick.yaml")
    parser.add_argument("--genomes", type=int, default=20)
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--eval-seed", type=int, default=2020)
    args = parser.parse_args()
    torch.set_num_threads(1)
    experiment = load_experiment(args.config, [])
    std = experiment.config.network.coefficient_std
    for env_id in MORPHOLOGIES:
        means = []
        for k in range(args.genomes):
            genome = torch.randn(experiment.net.num_params, generator=torch.Generator().manual_seed(1000 + k)) * std
            returns, _ = experiment.replay(genome, args.episodes, args.eval_seed, record=False, env_id=env_id)
            means.append(statistics.fmean(returns))
        print(f"{env_id}: {statistics.fmean(means):.1f} ± {statistics.stdev(means):.1f} "
              f"(best of {args.genomes}: {max(means):.1f})")


if __name__ == "__main__":
    main()
