"""Evolved PCGRL generators: batched evaluation, the NCA's fixed points, and a run end to end (Hamming diversity:
tests/envs/pcgrl/test_metrics.py)."""

import numpy as np
import pytest
import torch

from evoforge.envs.pcgrl.problems import make_problem
from evoforge.experiments.pcgrl import GeneratorSettings, PCGRLGenerationEvaluator

from ..conftest import CONFIGS


def evaluator(**settings):
    ev = PCGRLGenerationEvaluator(GeneratorSettings(**settings))
    ev.setup()
    return ev


@pytest.mark.parametrize("representation", ["narrow", "turtle", "wide", "nca"])
def test_a_chunk_evaluates_like_its_genomes_one_by_one(representation):
    ev = evaluator(problem="zelda", representation=representation, maps=3, max_iterations=40, nca_steps=10)
    genomes = torch.randn(3, ev.num_params, generator=torch.Generator().manual_seed(0))
    together = ev.evaluate(genomes, [5, 6, 7])
    alone = [ev.evaluate(genomes[i:i + 1], [seed])[0] for i, seed in enumerate([5, 6, 7])]
    for a, b in zip(together, alone):
        assert a.fitness == pytest.approx(b.fitness) and a.metrics == pytest.approx(b.metrics)


def test_reported_validity_and_path_match_the_per_map_statistics():
    ev = evaluator(problem="binary", representation="nca", maps=6, nca_steps=20)
    genome = torch.randn(1, ev.num_params, generator=torch.Generator().manual_seed(3))
    out = ev.generate(genome, [9])
    initial, levels, scores = out.initial, out.levels, out.scores
    problem = make_problem("binary")
    per_map = [problem.stats(level) for level in levels[0]]
    result = ev.evaluate(genome, [9])[0]
    assert result.metrics["valid"] == pytest.approx(np.mean([problem.valid(s) for s in per_map]))
    assert result.metrics["path"] == pytest.approx(np.mean([s["path-length"] for s in per_map]))
    start = [{k: int(v[i]) for k, v in initial.items()} for i in range(6)]
    assert scores[0] == pytest.approx([problem.reward(s, s0) for s, s0 in zip(per_map, start)])


def test_an_identity_nca_leaves_the_maps_alone_and_stops_at_once():
    ev = evaluator(problem="sokoban", representation="nca", maps=4, width=5)
    # hidden = the 5 one-hot channels copied by the centre tap of the 3x3 conv, then passed through unchanged
    weights = [torch.zeros(5, 5, 3, 3), torch.zeros(5), torch.eye(5).reshape(5, 5, 1, 1), torch.zeros(5),
               torch.eye(5).reshape(5, 5, 1, 1), torch.zeros(5)]
    weights[0][:, :, 1, 1] = torch.eye(5)
    genome = torch.cat([w.reshape(-1) for w in weights]).unsqueeze(0)
    assert genome.shape[1] == ev.num_params
    out = ev.generate(genome, [1], record=True)
    assert len(out.frames) == 1 and out.steps.tolist() == [4]  # 1 step x 4 maps changed nothing: it stopped
    np.testing.assert_array_equal(out.frames[0], out.levels)


def test_generator_run_end_to_end_with_level_grid_and_animation(tmp_path):
    from evoforge.cli import main

    out = tmp_path / "run"
    sets = ["--set", "search.popsize=8", "--set", "search.generations=2", "--set", "generator.maps=3",
            "--set", "center_eval.every=0"]
    assert main(["run", str(CONFIGS / "pcgrl_binary_nca.yaml"), "--serial", "--quiet", "--out", str(out), *sets]) == 0
    assert main(["replay", str(out), "--episodes", "4", "--levels", "6", "--video", str(tmp_path / "edit.gif")]) == 0
    import imageio.v2 as imageio

    grid = imageio.imread(out / "levels.png")
    assert grid.ndim == 3 and grid.shape[2] == 3 and grid.shape[0] > 14 * 12
    frames = imageio.mimread(tmp_path / "edit.gif")
    assert len(frames) >= 1 and frames[0].shape[1] > 4 * 14 * 12


def test_replay_and_report_of_a_generator_run_through_the_experiment_interface(tmp_path):
    from evoforge.cli import main
    from evoforge.errors import UserError
    from evoforge.experiments import ReplayOptions, load_experiment
    from evoforge.report.page import Report
    from evoforge.search.rundir import RunDir

    out = tmp_path / "run"
    sets = ["--set", "search.popsize=4", "--set", "search.generations=1", "--set", "generator.maps=2",
            "--set", "center_eval.every=0", "--set", "generator.nca_steps=5"]
    assert main(["run", str(CONFIGS / "pcgrl_binary_nca.yaml"), "--serial", "--quiet", "--out", str(out), *sets]) == 0
    run_dir = RunDir(out)
    experiment = load_experiment(run_dir.config_path)
    lines = experiment.replay_run(run_dir, ReplayOptions(episodes=2, levels=3, grid=tmp_path / "grid.png"))
    assert [line.split(":")[0] for line in lines[:2]] == ["episode 0", "episode 1"]
    assert lines[-2].startswith("3 levels: ") and lines[-1] == f"level grid -> {tmp_path / 'grid.png'}"
    assert (tmp_path / "grid.png").is_file() and not (out / "levels.png").exists()
    with pytest.raises(UserError, match="^--levels must be >= 1, got 0$"):
        experiment.replay_run(run_dir, ReplayOptions(levels=0))
    files = sorted(p.name for p in out.iterdir())
    report = Report("pcgrl")
    experiment.report_sections(report, run_dir, media=False)
    assert [s.title for s in report.sections] == ["Generated levels", "Reference evaluation protocol"]
    assert "not measured yet: evoforge levels" in report.render()
    report = Report("pcgrl")
    experiment.report_sections(report, run_dir, media=True)
    assert [s.title for s in report.sections] == ["Generated levels", "Editing animation",
                                                  "Reference evaluation protocol"]
    assert "<video" in report.render() and sorted(p.name for p in out.iterdir()) == files  # a report adds no file
    # once `evoforge levels` has measured it, the report shows the protocol's table and plot
    assert main(["levels", str(out), "--seeds", "2", "--maps", "2", "--quiet"]) == 0
    report = Report("pcgrl")
    experiment.report_sections(report, run_dir, media=False)
    page = report.render()
    assert "whole rewrite" in page and "Hamming diversity" in page and page.count("data:image/png") >= 1
