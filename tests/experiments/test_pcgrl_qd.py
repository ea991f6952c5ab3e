"""Quality-diversity search over PCGRL generators with pyribs (CMA-ME, MAP-Elites) on the engine: the archive
checkpoints with the run (resume = uninterrupted), its statistics, failed evaluations, config errors, and the
archive in inspect and the report."""

import re

import numpy as np
import pytest
import torch

from evoforge.experiments import load_experiment
from evoforge.experiments.config import ConfigError
from evoforge.search.evaluation import Evaluation
from evoforge.search.qd import QDSearcher, QDSettings
from evoforge.search.rundir import RunDir

from ..conftest import CONFIGS

TINY = ["--set", "search.emitters=2", "--set", "search.batch_size=4", "--set", "generator.maps=2",
        "--set", "generator.nca_steps=5", "--set", "generator.init_samples=0", "--set", "search.cells=[6, 6]"]


def run(out, generations, *extra):
    from evoforge.cli import main

    return main(["run", str(CONFIGS / "pcgrl_binary_cma_me.yaml"), "--serial", "--quiet", "--out", str(out), *TINY,
                 "--set", f"search.generations={generations}", *extra])


def archive_of(out):
    experiment = load_experiment(RunDir(out).config_path)
    elites = experiment.load_searcher(RunDir(out)).elites()
    order = np.argsort(elites["index"])
    return {key: np.asarray(values)[order] for key, values in elites.items()}


@pytest.mark.parametrize("algorithm", ["cma_me", "map_elites"])
def test_a_resumed_search_has_the_archive_of_the_uninterrupted_one(tmp_path, algorithm):
    from evoforge.cli import main

    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert run(whole, 4, "--set", f"search.algorithm={algorithm}") == 0
    assert run(cut, 2, "--set", f"search.algorithm={algorithm}") == 0
    assert main(["resume", str(cut), "--generations", "4", "--quiet"]) == 0
    a, b = archive_of(whole), archive_of(cut)
    assert len(a["objective"]) > 1 and a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_statistics_are_those_of_the_archives_elites(tmp_path):
    out = tmp_path / "run"
    assert run(out, 3) == 0
    experiment = load_experiment(RunDir(out).config_path)
    searcher = experiment.load_searcher(RunDir(out))
    elites, logged = searcher.elites(), RunDir(out).read_metrics()[-1]
    assert logged["elites"] == len(elites["objective"])
    assert logged["coverage"] == pytest.approx(len(elites["objective"]) / 36)
    assert logged["qd_score"] == pytest.approx(np.sum(elites["objective"] + 500))  # offset -500 in the config
    assert logged["objective_max"] == pytest.approx(elites["objective"].max())
    assert logged["elite_valid"] == pytest.approx(elites["valid"].mean())
    # each elite sits in the cell of its logged descriptors (regions, path length), clipped to the ranges
    cells = searcher.archive.index_of(np.clip(elites["measures"], [0, 0], [40 - 1e-9, 100 - 1e-9]))
    np.testing.assert_array_equal(cells, elites["index"])


def test_a_failed_evaluation_never_shows_as_an_elite():
    settings = QDSettings(algorithm="map_elites", emitters=1, batch_size=4, cells=[4, 4])
    searcher = QDSearcher(settings, torch.zeros(3), ["a", "b"], [[0, 1], [0, 1]], seed=0, fields=("valid",))

    def evaluate(genomes):
        return [Evaluation.failure("boom") if i == 0 else
                Evaluation(fitness=float(i), metrics={"a": 0.2 * i, "b": 0.9, "valid": 1.0})
                for i in range(len(genomes))]

    searcher.step(evaluate)
    assert sorted(searcher.elites()["objective"].tolist()) == [1.0, 2.0, 3.0]
    assert searcher.metrics()["elites"] == 3 and searcher.metrics()["qd_score"] == 6.0


@pytest.mark.parametrize("sets, message", [
    (["search.measures=[regions, doors]"], "search.measures: binary has no descriptor 'doors' (descriptors: regions,"),
    (["search.cells=[4, 4, 4]"], "search.cells has 3 entries for 2 descriptors"),
    (["search.ranges=[[0, 1], [3, 2]]"], "each range must be [low, high] with low < high, got [3.0, 2.0]"),
    (["search.measures=[enemies, path-length]", "generator.problem=zelda"],
     "search.ranges: descriptor 'enemies' has no default range; give [low, high] for every descriptor"),
    (["search.algorithm=map_elite"], "search"),
])
def test_bad_qd_settings_are_one_line_config_errors(sets, message):
    with pytest.raises(ConfigError) as error:
        load_experiment(CONFIGS / "pcgrl_binary_cma_me.yaml", sets)
    assert message in str(error.value) and len(str(error.value).splitlines()) == 1, str(error.value)


def test_inspect_and_report_draw_the_archive(tmp_path, capsys):
    from evoforge.cli import main
    from evoforge.report.page import Report

    out = tmp_path / "run"
    assert run(out, 2, "--set", "generator.problem=zelda") == 0
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"archive: \d+ elites of 36 cells \(coverage [\d.]+%\), QD score", text)
    import imageio.v2 as imageio

    assert imageio.imread(out / "archive.png").shape[0] > 300
    experiment = load_experiment(RunDir(out).config_path)
    report = Report("qd")
    experiment.report_sections(report, RunDir(out), media=True)
    assert [s.title for s in report.sections][:2] == ["Quality-diversity archive", "Generated levels"]
    page = report.render()
    assert "QD score = sum over elites of (objective - -500)" in page and page.count("data:image/png") >= 3


def test_earle_objective_is_their_formula():
    from evoforge.experiments.pcgrl import GeneratorSettings, PCGRLGenerationEvaluator

    settings = GeneratorSettings(problem="zelda", representation="nca", maps=4, nca_steps=5, objective="earle")
    ev = PCGRLGenerationEvaluator(settings, ["nearest-enemy", "path-length"])
    ev.setup()
    genomes = torch.randn(2, ev.num_params, generator=torch.Generator().manual_seed(4))
    results, out = ev.evaluate(genomes, [3, 4]), ev.generate(genomes, [3, 4])
    for g, result in enumerate(results):
        stats = [{k: float(v.reshape(2, 4)[g, k_map]) for k, v in out.final.items()} for k_map in range(4)]
        # static targets of zelda: player, key, door [1, 1], enemies [2, 5], regions [1, 1] (the descriptors and the
        # maximised path are not targets)
        loss = [abs(s["player"] - 1) + abs(s["key"] - 1) + abs(s["door"] - 1) + max(2 - s["enemies"], 0)
                + max(s["enemies"] - 5, 0) + abs(s["regions"] - 1) for s in stats]
        spread = np.mean([np.std([s["nearest-enemy"] for s in stats]), np.std([s["path-length"] for s in stats])])
        expected = 10 * -np.mean(loss) + max(0.0, -spread + 10 * result.metrics["diversity"])
        assert result.fitness == pytest.approx(expected)
