"""The engine: genomes, evaluators, the evaluator pool, searchers and the run loop.

This package imports no domain package (envs, policies, nas, ...); experiments plug into it through the
:class:`~evoforge.search.evaluation.Evaluator` and :class:`~evoforge.search.run.Experiment` contracts.
"""

from evoforge.search.evaluation import Evaluation, Evaluator, evaluate_safely
from evoforge.search.genome import Genome, GenomeBatch, StructuredGenome
from evoforge.search.pool import EvaluatorPool, PoolError
from evoforge.search.seeds import derive_seed, episode_seeds, genome_seeds

__all__ = [
    "Evaluation",
    "Evaluator",
    "EvaluatorPool",
    "Genome",
    "GenomeBatch",
    "PoolError",
    "StructuredGenome",
    "derive_seed",
    "episode_seeds",
    "evaluate_safely",
    "genome_seeds",
]
