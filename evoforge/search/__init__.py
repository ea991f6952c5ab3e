"""The engine: genomes, evaluators, the evaluator pool, searchers and the run loop.

This package imports no domain package (envs, policies, nas, ...); experiments plug into it through the
:class:`~evoforge.search.evaluation.Evaluator` and :class:`~evoforge.search.run.RunnableExperiment` contracts
(declared in full by :class:`evoforge.experiments.Experiment`). The run directory's format is
:class:`~evoforge.search.rundir.RunDir`'s.
"""

from evoforge.search.evaluation import Evaluation, Evaluator, evaluate_safely
from evoforge.search.genome import Genome, GenomeBatch, StructuredGenome
from evoforge.search.pool import EvaluatorPool, PoolError
from evoforge.search.rundir import RunDir
from evoforge.search.seeds import derive_seed, episode_seeds, genome_seeds

__all__ = [
    "Evaluation",
    "Evaluator",
    "EvaluatorPool",
    "Genome",
    "GenomeBatch",
    "PoolError",
    "RunDir",
    "StructuredGenome",
    "derive_seed",
    "episode_seeds",
    "evaluate_safely",
    "genome_seeds",
]
