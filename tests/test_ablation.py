"""`evoforge ablate`: spec validation, variant expansion, the statistics, an ablation end to end (interrupted with
SIGINT, then resumed), and every shipped spec in ablations/."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from evoforge.ablation import execute_run, load_spec, plan, summarise, variants, welch_p
from evoforge.ablation.results import markdown, metric_value
from evoforge.ablation.runner import prepare
from evoforge.cli import main
from evoforge.experiments.config import ConfigError

from .conftest import CONFIGS, REPO, cli_env, evoforge_cmd

SPHERE = CONFIGS / "function_sphere.yaml"
CARTPOLE = CONFIGS / "es_cartpole.yaml"


def write_spec(folder: Path, text: str, name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


# -- validation -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("body, expected", [
    ("metric: [best_fitness]\nmetrics: [best_fitness]", "metric: unknown key"),
    ("metrics: []", "metrics: List should have at least 1 item"),
    ("metrics: [best-fitness]", "metrics: 'best-fitness': expected KEY, summary.KEY, final.KEY"),
    ("metrics: [best_fitness]\nseeds: 0", "seeds: must be >= 1"),
    ("metrics: [best_fitness]\nseeds: [1, 1]", "seeds: seeds must be distinct"),
    ("metrics: [best_fitness]\ngrid: {search.popsize: []}", "grid: search.popsize: needs at least one value"),
    ("metrics: [best_fitness]\nset: {seed: 3}", "set: seed is set by the ablation"),
    ("metrics: [best_fitness]\nvariants: {a: {set: {pool.backend: ray}}}", "variants.a.set: pool.backend is set by"),
    ("metrics: [best_fitness]\nvariants: {a: {sett: {}}}", "variants.a.sett: unknown key"),
    ("metrics: [best_fitness]\nvariants: {a: {set: {search.popsize: 8}}}\ngrid: {search.popsize: [4]}",
     "variant a sets search.popsize, which the grid varies"),
    ("metrics: [best_fitness]\ngrid: {search.popsiz: [8, 16]}", "variant search.popsiz=8: search.popsiz: unknown key"),
    ("metrics: [best_fitness]\ngrid: {search.algorithm: [snes, snez]}", "variant search.algorithm=snez: "
                                                                         "search.algorithm: Input should be"),
    ("metrics: [best_fitness]\nvariants: {a: {config: nowhere.yaml}}", "config nowhere.yaml: no such file"),
])
def test_a_bad_spec_is_one_line_naming_the_key_and_nothing_starts(tmp_path, capsys, body, expected):
    spec = write_spec(tmp_path, f"name: bad\nconfig: {SPHERE}\n{body}\n")
    out = tmp_path / "out"
    assert main(["ablate", str(spec), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1, err
    assert not out.exists()


def test_cli_overrides_may_not_touch_what_the_spec_varies_or_owns(tmp_path, capsys):
    spec = write_spec(tmp_path, f"name: s\nconfig: {SPHERE}\ngrid: {{search.popsize: [8, 16]}}\n"
                                "metrics: [best_fitness]\n")
    for override, expected in [("search.popsize=4", "--set search.popsize: the spec varies this key"),
                               ("seed=2", "--set seed: set by the ablation"),
                               ("search.popsiz=4", "search.popsiz: unknown key")]:
        assert main(["ablate", str(spec), "--out", str(tmp_path / "out"), "--set", override]) == 2
        assert expected in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# -- expansion -------------------------------------------------------------------------------------------------------
def test_variants_cross_the_grid_and_runs_go_seed_major(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "sphere.yaml").write_text(SPHERE.read_text())
    spec_path = write_spec(tmp_path, f"""
name: expand
config: configs/sphere.yaml           # relative to the spec file
seeds: [3, 7]
set: {{search.generations: 5, function.dim: 4}}
variants:
  small: {{set: {{search.popsize: 8}}}}
  other: {{config: {SPHERE}, set: {{function.dim: 6}}}}
grid:
  search.sigma: [0.1, 0.3]
  search.algorithm: [openai_es, snes]
metrics: [best_fitness]
""")
    spec = load_spec(spec_path)
    arms = variants(spec, spec_path)
    assert [a.name for a in arms] == [
        f"{v},search.sigma={s},search.algorithm={a}" for v in ("small", "other") for s in ("0.1", "0.3")
        for a in ("openai_es", "snes")]
    assert arms[0].config == (tmp_path / "configs" / "sphere.yaml").resolve() and arms[4].config == SPHERE.resolve()
    runs = plan(spec, spec_path, {"search.generations": 3})
    assert len(runs) == 16 and [r.seed for r in runs] == [3] * 8 + [7] * 8  # seed-major
    first = runs[0].config
    assert (first["seed"], first["pool"]["backend"], first["search"]["popsize"], first["search"]["sigma"],
            first["search"]["generations"], first["function"]["dim"]) == (3, "serial", 8, 0.1, 3, 4)
    assert runs[4].config["function"]["dim"] == 6 and runs[4].config["search"]["popsize"] == 16  # the base's
    assert runs[9].directory == "small,search.sigma=0.1,search.algorithm=snes/seed-7"

    # values that are not plain words: lists, booleans and slashes stay readable and make safe directory names
    spec_path = write_spec(tmp_path, f"name: odd\nconfig: {CARTPOLE}\nmetrics: [best_fitness]\ngrid:\n"
                                     "  policy.hidden: [[8], [16, 16]]\n  policy.bias: [true]\n", "odd.yaml")
    runs = plan(load_spec(spec_path), spec_path)
    assert [r.variant for r in runs[:2]] == ["policy.hidden=[8],policy.bias=true",
                                            "policy.hidden=[16,16],policy.bias=true"]
    assert [r.directory for r in runs] == [f"policy.hidden=_{h}_,policy.bias=true/seed-{s}" for s in range(3)
                                           for h in ("8", "16,16")]  # no glob characters in directory names
    assert runs[1].config["policy"]["hidden"] == [16, 16]
    spec_path = write_spec(tmp_path, f"name: one\nconfig: {SPHERE}\nseeds: 2\nmetrics: [best_fitness]\n", "one.yaml")
    assert [r.directory for r in plan(load_spec(spec_path), spec_path)] == ["base/seed-0", "base/seed-1"]
    # a variant with its own seeds runs only those; the others keep the spec's, still seed-major
    spec_path = write_spec(tmp_path, f"name: uneven\nconfig: {SPHERE}\nseeds: 3\nmetrics: [best_fitness]\n"
                                     "variants:\n  cheap: {}\n  costly: {seeds: 1}\n  extra: {seeds: [5]}\n",
                           "uneven.yaml")
    spec = load_spec(spec_path)
    assert spec.seed_list == [0, 1, 2, 5]
    assert [r.directory for r in plan(spec, spec_path)] == [
        "cheap/seed-0", "costly/seed-0", "cheap/seed-1", "cheap/seed-2", "extra/seed-5"]


def test_a_different_spec_on_an_existing_directory_is_refused(tmp_path, capsys):
    spec_path = write_spec(tmp_path, f"name: first\nconfig: {SPHERE}\nseeds: 1\nmetrics: [best_fitness]\n"
                                     "grid: {search.popsize: [8]}\n")
    out = tmp_path / "out"
    spec = load_spec(spec_path)
    prepare(out, spec_path, spec, plan(spec, spec_path), [])
    run_config = out / "search.popsize=8" / "seed-0" / "config.yaml"
    assert run_config.is_file() and (out / "spec.yaml").is_file()
    spec_path.write_text(spec_path.read_text() + "set: {search.sigma: 0.2}\n")
    # A planned run that never started is planned afresh from the changed spec.
    prepare(out, spec_path, load_spec(spec_path), plan(load_spec(spec_path), spec_path), [])
    assert yaml.safe_load(run_config.read_text())["search"]["sigma"] == 0.2
    # One that ran is not: its results are those of the config it ran with.
    (run_config.parent / "summary.json").write_text('{"status": "completed"}')
    saved = yaml.safe_load(run_config.read_text())
    saved["search"]["sigma"] = 0.1
    del saved["search"]["noise"]  # a setting added to evoforge after the run: not a difference
    run_config.write_text(yaml.safe_dump(saved, sort_keys=False))
    assert main(["ablate", str(spec_path), "--out", str(out)]) == 2
    assert "search.popsize=8/seed-0 was run with search.sigma=0.1, this spec plans search.sigma=0.2" in \
        capsys.readouterr().err
    saved["search"]["sigma"] = 0.2  # now the same but for the key it lacks: accepted, and left as it was
    run_config.write_text(yaml.safe_dump(saved, sort_keys=False))
    prepare(out, spec_path, load_spec(spec_path), plan(load_spec(spec_path), spec_path), [])
    assert "noise" not in yaml.safe_load(run_config.read_text())["search"]
    other = write_spec(tmp_path, f"name: second\nconfig: {SPHERE}\nmetrics: [best_fitness]\n", "other.yaml")
    assert main(["ablate", str(other), "--out", str(out)]) == 2
    assert "holds the ablation 'first', not 'second'" in capsys.readouterr().err


# -- statistics --------------------------------------------------------------------------------------------------------
def test_statistics_match_hand_computed_values():
    s = summarise([1.0, 2.0, 3.0, 4.0])
    std = math.sqrt(((1.5 ** 2) * 2 + (0.5 ** 2) * 2) / 3)  # sample std: sum of squares / (n - 1)
    t975_df3 = 3.182446305284263  # Student's t, 97.5 % quantile, 3 degrees of freedom (tables)
    assert (s.n, s.mean) == (4, 2.5) and s.std == pytest.approx(std)
    assert (s.ci_low, s.ci_high) == pytest.approx((2.5 - t975_df3 * std / 2, 2.5 + t975_df3 * std / 2))
    assert s.ci_low == pytest.approx(0.4457397, abs=1e-6)
    one = summarise([5.0])
    assert one.n == 1 and one.mean == 5.0 and math.isnan(one.std) and math.isnan(one.ci_low)
    assert summarise([]).n == 0

    # Welch: t = (mean_a - mean_b) / sqrt(va/na + vb/nb), Welch-Satterthwaite df, two-sided p
    from scipy.stats import t as student

    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0]
    va, vb = 5 / 3, 20 / 3
    se2 = va / 4 + vb / 4
    df = se2 ** 2 / ((va / 4) ** 2 / 3 + (vb / 4) ** 2 / 3)
    expected = 2 * student.sf(abs(2.5 - 5.0) / math.sqrt(se2), df)
    assert welch_p(a, b) == pytest.approx(expected) and 0.1 < expected < 0.2
    assert math.isnan(welch_p([1.0], b)) and math.isnan(welch_p([3.0, 3.0], [3.0, 3.0]))


def test_metric_forms_and_the_table():
    summary = {"best_fitness": -0.5, "solved": True, "solved_generation": None}
    records = [{"generation": 0, "center_eval": 2.0}, {"generation": 1, "center_eval": 6.0},
               {"generation": 2, "center_eval": 4.0, "sigma": 0.1}]
    assert metric_value("best_fitness", summary, records) == -0.5
    assert metric_value("summary.solved", summary, records) == 1.0  # booleans count as 0 / 1
    assert metric_value("solved_generation", summary, records) is None
    assert metric_value("final.center_eval", summary, records) == 4.0
    assert (metric_value("max.center_eval", summary, records), metric_value("min.center_eval", summary, records),
            metric_value("mean.center_eval", summary, records)) == (6.0, 2.0, 4.0)
    assert metric_value("final.missing", summary, records) is None and metric_value("max.sigma", summary, []) is None

    rows = [{"variant": v, "seed": s, "metric": "m", "value": x} for v, s, x in
            [("a", 0, 1.0), ("a", 1, 2.0), ("a", 2, 3.0), ("a", 3, 4.0), ("b", 0, 10.0), ("b", 1, None)]]
    table = markdown(rows, ["a", "b"], ["m"], "# t")
    assert "| variant | mean ± std | 95% CI | n | p (Welch, vs a) |" in table
    assert "| a | 2.50 ± 1.29 | [0.45, 4.55] | 4 |  |" in table
    assert "| b | 10.00 ± - | - | 1 of 2 | - |" in table


# -- end to end ------------------------------------------------------------------------------------------------------
def _status(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / "summary.json").read_text())["status"]
    except (OSError, ValueError, KeyError):
        return None


def _generations(run_dir: Path) -> list[int]:
    return [json.loads(line)["generation"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _fitness(run_dir: Path) -> list[tuple[float, float]]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["fitness_best"], r["fitness_mean"], r.get("center_eval")) for r in records]


def test_an_ablation_runs_end_to_end_is_interrupted_and_resumes(tmp_path, capsys):
    spec = write_spec(tmp_path, f"""
name: tiny
config: {CARTPOLE}
seeds: 2
set: {{stop_fitness: null, search.popsize: 8, center_eval.evaluations: 2, checkpoint.keep: 1000}}
grid:
  search.learning_rate: [0.05, 0.1]
metrics: [best_center_eval, final.fitness_mean, solved]
curve: center_eval
""")
    out = tmp_path / "out"
    args = ["ablate", str(spec), "--out", str(out), "--max-concurrent", "1", "--quiet",
            "--set", "search.generations=30"]
    first, second = out / "search.learning_rate=0.05" / "seed-0", out / "search.learning_rate=0.1" / "seed-0"
    # Ctrl-C as a terminal sends it: SIGINT to the whole process group, once the first run has finished and the
    # second has checkpointed at least one generation.
    process = subprocess.Popen(evoforge_cmd(*args), env=cli_env(), start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        if _status(first) == "completed" and list((second / "checkpoints").glob("ckpt-*.ckpt")):
            break
        time.sleep(0.02)
    assert process.poll() is None, process.communicate()
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=180)
    assert process.returncode == 128 + signal.SIGINT, stderr
    assert "continue with: evoforge ablate" in stderr
    assert _status(first) == "completed"
    assert _status(second) == "interrupted" and len(_generations(second)) < 30
    assert list((second / "checkpoints").glob("ckpt-*.ckpt"))
    assert _status(out / "search.learning_rate=0.05" / "seed-1") is None  # never started
    assert "1 of 4 runs finished (partial results)" in (out / "results.md").read_text()
    finished_before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in
                       [first / "summary.json", first / "metrics.jsonl", first / "best.pt"]}

    # the same command without the --set is another ablation: refused before anything runs
    assert main(args[:-2]) == 2
    assert "search.generations=30, this spec plans search.generations=100" in capsys.readouterr().err

    assert main(args) == 0
    captured = capsys.readouterr()
    assert "4 runs, 1 already finished" in captured.err
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in finished_before} == finished_before  # not re-run
    runs = sorted(out.glob("*/seed-*"))
    assert len(runs) == 4 and all(_status(run) == "completed" for run in runs)
    assert all(_generations(run) == list(range(30)) for run in runs)
    # the interrupted run continued to exactly what an uninterrupted run of its config computes
    assert main(["run", str(second / "config.yaml"), "--out", str(tmp_path / "straight"), "--quiet"]) == 0
    assert _fitness(second) == _fitness(tmp_path / "straight")

    with open(out / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12 and {r["status"] for r in rows} == {"completed"}
    assert {(r["variant"], r["seed"]) for r in rows} == {
        (f"search.learning_rate={lr}", str(seed)) for lr in ("0.05", "0.1") for seed in (0, 1)}
    best = [r for r in rows if r["metric"] == "best_center_eval"]
    assert all(0 < float(r["value"]) <= 500 for r in best)
    assert {r["value"] for r in rows if r["metric"] == "solved"} == {"0.0"}  # no stop fitness: never solved
    table = (out / "results.md").read_text()
    assert "4 of 4 runs finished." in table and "seeds 0, 1, `--set search.generations=30`" in table
    for metric in ("best_center_eval", "final.fitness_mean", "solved"):
        assert f"## {metric} (" in table
    lines = [line for line in table.splitlines() if line.startswith("| search.learning_rate=")]
    assert len(lines) == 6 and all(line.split("|")[4].strip() == "2" for line in lines)  # n = 2 everywhere
    assert table in captured.out
    for image in ("results.png", "curves.png"):
        assert (out / image).stat().st_size > 10_000
    assert json.loads((out / "plan.json").read_text())["overrides"] == ["search.generations=30"]
    assert (out / "spec.yaml").read_text() == spec.read_text()
    # `evoforge inspect` works on a run of the ablation as on any run
    assert main(["inspect", str(second), "--plot", str(tmp_path / "fitness.png")]) == 0

    # a third time: nothing to run (Ray is not even started), the tables are rewritten from the runs
    assert main(args) == 0
    assert "4 already finished" in capsys.readouterr().err
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in finished_before} == finished_before


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")  # two cells: a degenerate correlation
def test_the_nas_benchmark_runs_as_an_ablation_run(tmp_path):
    """The NAS benchmark (a searcher on Run like every kind) runs as an ablation task and reports its numbers."""
    spec_path = write_spec(tmp_path, f"""
name: bench
config: {CONFIGS / 'nas_benchmark_digits.yaml'}
seeds: 1
set: {{data.image_size: 8, data.max_train: 64, network.channels: 4, training.epochs: 1, proxy.batch_size: 16,
      proxy.names: [naswot, params], benchmark.architectures: 2, benchmark.select_n: [2], benchmark.repeats: 5}}
metrics: [architectures, kendall_tau]
""")
    spec = load_spec(spec_path)
    runs = plan(spec, spec_path)
    assert len(runs) == 1
    out = tmp_path / "out"
    prepare(out, spec_path, spec, runs, [])
    assert execute_run(str(out / runs[0].directory))["status"] == "finished"
    assert _status(out / runs[0].directory) == "completed"
    from evoforge.ablation import write_results

    text = write_results(out, spec_path, spec, runs, [])
    assert "| base | 2.00 ± - | - | 1 |  |" in text  # architectures; kendall_tau is a mapping: no value
    assert "| base | - | - | 0 of 1 |  |" in text


# -- the shipped specs -----------------------------------------------------------------------------------------------
SHIPPED = sorted((REPO / "ablations").glob("*.yaml"))


def test_the_shipped_specs_are_there():
    assert {p.stem for p in SHIPPED} >= {"hebbian_vs_static", "hebbian_rules", "poet_transfer", "nas_proxy"}


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_spec_validates_without_running(path):
    spec = load_spec(path)
    runs = plan(spec, path)  # builds every run's experiment: all variant configs load
    assert len(runs) == sum(len(arm.seeds) for arm in variants(spec, path)) and len(runs) >= 2
    assert all(r.config["pool"]["backend"] == "serial" for r in runs)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# ") and any("Expected time" in line for line in lines if line.startswith("#"))
    if path.stem == "poet_transfer":
        assert {r.variant: r.config["poet"]["transfer"] for r in runs} == {"transfer": True, "no_transfer": False}
    if path.stem == "nas_proxy":
        assert all(r.config["search"]["train_final"] for r in runs)
        assert "final_accuracy" in spec.metrics


def test_a_spec_error_names_the_spec_file(tmp_path):
    spec = write_spec(tmp_path, "name: x\nmetrics: [a]\nseeds: -1\n")
    with pytest.raises(ConfigError, match=r"spec.yaml: seeds: must be >= 1"):
        load_spec(spec)
