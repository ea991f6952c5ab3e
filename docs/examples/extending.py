"""Extend evoforge with your own genome, evaluator and experiment: evolve sorting networks (docs/extending.md).

    python docs/examples/extending.py runs/sorting          # serial; run it again to continue after Ctrl-C
    python docs/examples/extending.py runs/sorting --ray    # the same on Ray actors
    evoforge run docs/examples/extending.yaml --out runs/sorting-cli      # the same experiment through the CLI
    evoforge inspect runs/sorting-cli                                     # + the experiment's own lines
    evoforge report runs/sorting-cli                                      # + the experiment's own section
"""

import sys
from dataclasses import dataclass
from functools import partial

import numpy as np
from pydantic import BaseModel, ConfigDict

from evoforge.experiments import Experiment
from evoforge.experiments.config import BaseRunConfig
from evoforge.search import Evaluation, Evaluator, StructuredGenome
from evoforge.search.evolution import RegularizedEvolution
from evoforge.search.run import Run
from evoforge.search.rundir import RunDir


@dataclass(frozen=True)
class Network(StructuredGenome):
    """The genome: a sorting network on ``n`` wires, a sequence of any length of comparators (i, j), i < j."""

    n: int
    pairs: tuple = ()

    def mutate(self, rng):  # insert, delete or replace one comparator; all randomness comes from rng
        p, k = self.pairs, int(rng.integers(len(self.pairs) + 1))
        c = tuple(sorted(rng.choice(self.n, 2, replace=False).tolist()))
        return Network(self.n, [p[:k] + (c,) + p[k:], p[:k] + p[k + 1:], p[:k] + (c,) + p[k + 1:]][rng.integers(3)])


class Sorting(Evaluator):
    """Fitness = -(0-1 inputs left unsorted) - 0.01 x comparators: a network that sorts every 0-1 input sorts
    every input (Knuth's zero-one principle), so -0.12 is a correct network of 12 comparators."""

    deterministic = True  # the score needs no seed: the run's seeds are ignored, and that is said here

    def __init__(self, n: int) -> None:
        self.n = n  # the constructor only stores settings: it runs wherever the factory is called

    def setup(self) -> None:  # once per worker: all 2^n inputs of 0s and 1s
        self.inputs = (np.arange(2**self.n)[:, None] >> np.arange(self.n)) & 1

    def unsorted(self, net) -> int:  # how many of the 0-1 inputs the network leaves unsorted
        x = self.inputs.copy()
        for i, j in net.pairs:
            x[:, i], x[:, j] = np.minimum(x[:, i], x[:, j]), np.maximum(x[:, i], x[:, j])
        return int((x[:, :-1] > x[:, 1:]).any(axis=1).sum())

    def evaluate(self, genomes, seeds):  # a list of Networks; deterministic by design, so no seed is used
        results = []
        for net in genomes:
            unsorted = self.unsorted(net)
            results.append(Evaluation(-unsorted - 0.01 * len(net.pairs),
                                      metrics={"unsorted": unsorted, "comparators": len(net.pairs)}))
        return results


class Search(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key is a config error
    generations: int = 100
    population_size: int = 20
    sample_size: int = 5
    children: int = 8


class SortingConfig(BaseRunConfig):  # adds its own sections to experiment, name, seed, pool, checkpoint, ...
    inputs: int = 6
    search: Search = Search()


class SortingExperiment(Experiment):
    config_class = SortingConfig

    def __init__(self, config: SortingConfig) -> None:
        self.config = config
        self.settings = config.run_settings(config.search.generations, stop_fitness=None)

    def evaluator_factory(self):  # picklable; each worker calls it once
        return partial(Sorting, self.config.inputs)

    def make_searcher(self):  # regularized evolution from the empty network
        s = self.config.search
        return RegularizedEvolution([Network(self.config.inputs)], s.population_size, s.sample_size, s.children,
                                    seed=self.config.seed)

    def inspect(self, run_dir, options):  # `evoforge inspect RUN` prints these after the summary
        net, sorting = run_dir.read_best().genome, Sorting(self.config.inputs)
        sorting.setup()
        unsorted = sorting.unsorted(net)
        verdict = "yes" if unsorted == 0 else f"no, {unsorted} stay unsorted"
        return [f"best network, {len(net.pairs)} comparators: " + " ".join(f"{i}{j}" for i, j in net.pairs),
                f"sorts all {2**net.n} inputs of 0s and 1s: {verdict}"]

    def report_sections(self, report, run_dir, media):  # `evoforge report RUN` adds this section to the page
        net = run_dir.read_best().genome
        report.section("Best sorting network").table(
            ["step", "comparator", "smaller value to wire", "larger value to wire"],
            [(k + 1, f"{i}{j}", i, j) for k, (i, j) in enumerate(net.pairs)],
            caption=f"the best network found: {len(net.pairs)} comparators on {net.n} wires, applied in order")


def main(run_dir: str, backend: str = "serial", generations: int = 100) -> Run:
    config = SortingConfig(experiment="docs.examples.extending:SortingExperiment", name="sorting",
                           pool={"backend": backend}, search={"generations": generations})
    run = Run(SortingExperiment(config), run_dir, progress=False)
    files = RunDir(run_dir)  # the run directory's format: config, metrics, checkpoints, best.pt, summary
    if files.checkpoints():  # continue where the last session stopped, from the newest valid checkpoint
        run.restore(files.load_checkpoint()[1])
    summary = run.execute()
    best = run.best_genome
    print(f"{summary['status']} after {summary['generations_completed']} generations: best fitness "
          f"{summary['best_fitness']:.2f} (generation {summary['best_generation']}), {len(best.pairs)} comparators:")
    print(" ".join(f"{i}{j}" for i, j in best.pairs))
    return run


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/sorting", "ray" if "--ray" in sys.argv else "serial")
