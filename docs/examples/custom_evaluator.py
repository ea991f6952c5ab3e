"""Use the engine as a library: your own evaluator, evolved with CMA-ES on the pool.

    python docs/examples/custom_evaluator.py           # serial
    python docs/examples/custom_evaluator.py --ray     # one Ray actor per core
"""

import sys

import torch

from evoforge.search import Evaluation, Evaluator, EvaluatorPool, genome_seeds
from evoforge.search.es import ESSearcher, ESSettings


class Rosenbrock(Evaluator):
    """Fitness = -Rosenbrock(x); the whole chunk of genomes is scored in one vectorised expression."""

    def evaluate(self, genomes, seeds):
        x = genomes.double()
        value = (100 * (x[:, 1:] - x[:, :-1] ** 2) ** 2 + (1 - x[:, :-1]) ** 2).sum(dim=1)
        return [Evaluation(fitness=-float(v), metrics={"x0": float(row[0])}) for v, row in zip(value, x)]


def main(backend: str = "serial") -> torch.Tensor:
    searcher = ESSearcher(ESSettings(algorithm="cmaes", popsize=16, sigma=0.5), torch.zeros(5), seed=0)
    with EvaluatorPool(Rosenbrock, backend=backend) as pool:
        for generation in range(400):
            seeds = genome_seeds(run_seed=0, generation=generation, count=searcher.settings.popsize)
            searcher.step(lambda genomes: pool.evaluate(genomes, seeds))
    print("centre:", [round(v, 3) for v in searcher.center.tolist()])  # the optimum is all ones
    return searcher.center


if __name__ == "__main__":
    main("ray" if "--ray" in sys.argv else "serial")
