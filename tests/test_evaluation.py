import math

import pytest
import torch

from evoforge.search.evaluation import Evaluation, Evaluator, evaluate_safely


class PickyEvaluator(Evaluator):
    """Raises for genomes whose first value is 13, returns NaN for 7, else the first value."""

    def __init__(self):
        self.calls = 0

    def evaluate(self, genomes, seeds):
        self.calls += 1
        if bool((genomes[:, 0] == 13).any()):
            raise ZeroDivisionError("unlucky genome")
        return [Evaluation(fitness=float("nan") if g[0] == 7 else float(g[0])) for g in genomes]


def test_exception_and_nan_mark_only_their_genome_failed():
    genomes = torch.tensor([[1.0], [13.0], [7.0], [4.0]])
    results = evaluate_safely(PickyEvaluator(), genomes, [0, 1, 2, 3])
    assert [r.failed for r in results] == [False, True, True, False]
    assert results[0].fitness == 1.0 and results[3].fitness == 4.0
    assert "ZeroDivisionError: unlucky genome" in results[1].error
    assert "non-finite" in results[2].error
    assert math.isnan(results[1].fitness)


def test_clean_batch_is_evaluated_once():
    evaluator = PickyEvaluator()
    results = evaluate_safely(evaluator, torch.tensor([[1.0], [2.0]]), [0, 1])
    assert evaluator.calls == 1 and [r.fitness for r in results] == [1.0, 2.0]


def test_wrong_result_count_is_a_failure_not_a_crash():
    class Short(Evaluator):
        def evaluate(self, genomes, seeds):
            return [Evaluation(1.0)] * (len(seeds) - 1 or 2)

    results = evaluate_safely(Short(), torch.zeros(3, 1), [0, 1, 2])
    assert all(r.failed for r in results)
    assert "returned 2 evaluations for 1 genomes" in results[0].error


@pytest.mark.parametrize("value", [float("inf"), float("-inf")])
def test_infinite_fitness_fails(value):
    class Inf(Evaluator):
        def evaluate(self, genomes, seeds):
            return [Evaluation(value) for _ in seeds]

    assert evaluate_safely(Inf(), torch.zeros(1, 1), [0])[0].failed
