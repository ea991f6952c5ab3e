"""Every example under docs/examples runs and does what its text says, and every ```python block of README.md and
docs/*.md runs.

Python blocks: the blocks of one page run in order in one fresh namespace (later blocks use what earlier ones
defined), as the ``__main__`` module of a fresh process would (so ``if __name__ == "__main__":`` runs, and
classes a block defines pickle), in an empty temporary working directory.
"""

import json
import re
import runpy
import subprocess
import sys
import types

import numpy as np
import pytest

from .conftest import REPO
from .markdown_blocks import PAGES, fenced_blocks


def test_custom_evaluator_example_finds_the_rosenbrock_optimum():
    module = runpy.run_path(str(REPO / "docs" / "examples" / "custom_evaluator.py"))
    center = module["main"]("serial")
    assert all(abs(v - 1.0) < 0.05 for v in center.tolist())


def test_pcgrl_example_steps_one_env_and_a_batch():
    module = runpy.run_path(str(REPO / "docs" / "examples" / "pcgrl_envs.py"))
    result = module["main"]()
    assert result["obs_shape"] == (512, 1, 28, 28)
    assert result["image_shape"] == (7 * 16, 11 * 16, 3)
    assert (result["changes"] <= 39).all() and result["changes"].max() > 0


def test_nas_example_scores_cells_and_picks_the_best():
    module = runpy.run_path(str(REPO / "docs" / "examples" / "nas_proxies.py"))
    result = module["main"](n=4)
    assert result["batch_shape"] == (128, 3, 16, 16) and len(result["scores"]) == 4
    assert result["scores"][result["cells"].index(result["best"])] == max(result["scores"])
    assert result["params"] == 1_531_546  # NAS-Bench-201's count for the all-3x3-conv cell


def test_evonorm_example_prints_formulas_and_swaps_a_layer():
    module = runpy.run_path(str(REPO / "docs" / "examples" / "evonorm_layers.py"))
    result = module["main"]()
    assert result["s0"] == "(x * sigmoid(v1 * x)) / std_group(x)" and result["mine"] == "tanh(x / std_batch(x))"
    assert result["out_shape"] == (8, 64, 4, 4) and result["swapped"] == 1 and result["logits_shape"] == (4, 10)
    assert "one channel per group at 16 channels" in result["refused"] and result["narrow_groups"] == 4


# -- docs/extending.md ---------------------------------------------------------------------------------------

TIMING = {"evals_per_s", "env_steps_per_s", "wall_s", "nodes", "bytes_to_actors"}


def _extending(monkeypatch):
    # Imported by its package path, as `experiment: docs.examples.extending:...` names it: checkpoints pickle
    # its genome class by that name.
    monkeypatch.syspath_prepend(str(REPO))
    from docs.examples import extending

    return extending


def _metrics(run_dir):
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING}
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _sorts(pairs, values):
    values = list(values)
    for i, j in pairs:
        values[i], values[j] = min(values[i], values[j]), max(values[i], values[j])
    return values == sorted(values)


def test_extending_example_evolves_a_sorting_network_in_a_run_directory(tmp_path, monkeypatch, capsys):
    extending = _extending(monkeypatch)
    run = extending.main(str(tmp_path / "sorting"))
    printed = capsys.readouterr().out
    page = (REPO / "docs" / "extending.md").read_text()
    assert printed.strip() and printed.strip() in page  # the page shows this very output
    best = run.best_genome
    assert isinstance(best, extending.Network) and best.n == 6
    rng = np.random.default_rng(0)  # a correct network sorts any input, not only the 0-1 inputs it was scored on
    assert all(_sorts(best.pairs, rng.permutation(6)) for _ in range(300))
    assert all(_sorts(best.pairs, rng.normal(size=6)) for _ in range(300))
    assert run.state.best_fitness == pytest.approx(-0.01 * len(best.pairs)) and len(best.pairs) == 13
    out = tmp_path / "sorting"
    assert {p.name for p in out.iterdir()} >= {"metrics.jsonl", "checkpoints", "best.pt", "summary.json"}
    assert len(_metrics(out)) == 100 and _metrics(out)[-1]["unsorted_mean"] >= 0
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"


def test_a_user_experiment_gets_a_report_and_a_one_line_error_for_replay(tmp_path, monkeypatch, capsys):
    from evoforge.cli import main

    monkeypatch.chdir(REPO)
    out = tmp_path / "sorting"
    assert main(["run", "docs/examples/extending.yaml", "--quiet", "--out", str(out),
                 "--set", "search.generations=3"]) == 0
    capsys.readouterr()
    assert main(["replay", str(out)]) == 2  # SortingExperiment defines no replay (optional, extending.md)
    err = capsys.readouterr().err
    assert "has no replay" in err and len(err.strip().splitlines()) == 1
    assert main(["report", str(out)]) == 0  # the common sections; no view is registered for this kind
    assert "warning" not in capsys.readouterr().err
    assert "unsorted_mean" in (out / "report.html").read_text()


def test_a_user_experiment_gets_its_own_inspect_lines_and_report_section(tmp_path, monkeypatch, capsys):
    """The experiment interface's optional surface: `evoforge inspect` prints the lines of the user experiment's
    `inspect`, `evoforge report` adds its `report_sections`; both as docs/extending.md shows them."""
    from evoforge.cli import main
    from evoforge.report import build_report

    monkeypatch.chdir(REPO)
    out = tmp_path / "sorting"
    assert main(["run", "docs/examples/extending.yaml", "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    own = printed[printed.index(next(line for line in printed if line.startswith("fitness curve -> "))) + 1:]
    assert own == ["best network, 13 comparators: 02 13 34 25 12 45 01 12 13 23 01 34 23",
                   "sorts all 64 inputs of 0s and 1s: yes"]
    assert "\n".join(own) in (REPO / "docs" / "extending.md").read_text()  # the page shows these very lines
    report = build_report(out, media=False)
    titles = [section.title for section in report.sections]
    assert "Best sorting network" in titles and titles.index("Best sorting network") < titles.index("Metrics")
    page = report.render()
    assert "the best network found: 13 comparators on 6 wires, applied in order" in page
    assert "warning" not in capsys.readouterr().err and not report.problems


def test_extending_example_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    extending = _extending(monkeypatch)
    straight = extending.main(str(tmp_path / "straight"), generations=60)
    extending.main(str(tmp_path / "split"), generations=25)
    resumed = extending.main(str(tmp_path / "split"), generations=60)  # restores generation 25, runs 35 more
    assert resumed.best_genome == straight.best_genome
    assert _metrics(tmp_path / "split") == _metrics(tmp_path / "straight")


def test_extending_page_shows_the_example_verbatim():
    page = REPO / "docs" / "extending.md"
    lines = page.read_text().splitlines()
    start = lines.index("## The pieces") + 1
    stop = next(i for i in range(start, len(lines)) if lines[i].startswith("## ")) + 1
    source = (REPO / "docs" / "examples" / "extending.py").read_text()
    excerpts = [b for b in fenced_blocks(page, "python") if start < b.line < stop and not b.text.startswith("run = ")]
    assert len(excerpts) >= 4
    for block in excerpts:
        assert block.text in source, f"extending.md:{block.line} is not an excerpt of docs/examples/extending.py"
    config = (REPO / "docs" / "examples" / "extending.yaml").read_text().splitlines()
    (shown,) = fenced_blocks(page, "yaml")
    assert shown.text.splitlines() == [line for line in config if not line.startswith("#")]


def test_a_user_experiment_is_named_in_the_config_as_module_and_class(tmp_path, monkeypatch, capsys):
    from evoforge.cli import main
    from evoforge.experiments import load_experiment

    monkeypatch.chdir(REPO)  # the module is found from the current directory, as from the console script
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(REPO))])
    for name in ("docs", "docs.examples", "docs.examples.extending"):  # imported afresh, through the hook
        monkeypatch.delitem(sys.modules, name, raising=False)
    experiment = load_experiment(REPO / "docs" / "examples" / "extending.yaml", ["inputs=5"])
    assert type(experiment).__name__ == "SortingExperiment" and experiment.config.inputs == 5
    bad = tmp_path / "bad.yaml"
    for kind, message in [("no_such_module_xyz:Thing", "experiment: cannot import 'no_such_module_xyz'"),
                          ("docs.examples.extending:Sorting", "is not a subclass of evoforge.experiments.Experiment"),
                          ("docs.examples.extending:main", "is not a subclass of evoforge.experiments.Experiment")]:
        bad.write_text(f"experiment: {kind}\nname: x\n")
        assert main(["run", str(bad), "--out", str(tmp_path / "run")]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
    bad.write_text("experiment: docs.examples.extending:SortingExperiment\nname: x\nsearch: {generatoins: 3}\n")
    assert main(["run", str(bad), "--out", str(tmp_path / "run")]) == 2
    assert "search.generatoins: unknown key" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # nothing starts before the config is valid


@pytest.mark.slow
def test_extending_example_on_ray_gives_the_serial_result(tmp_path):
    """The example's ``--ray`` flag: a local Ray started by the run (slow: starting Ray takes ~10 s here)."""
    script = REPO / "docs" / "examples" / "extending.py"
    outputs = [subprocess.run([sys.executable, str(script), str(tmp_path / backend), *flags], cwd=REPO,
                              capture_output=True, text=True, timeout=300, check=True).stdout
               for backend, flags in (("serial", []), ("ray", ["--ray"]))]
    assert outputs[0] == outputs[1] and "13 comparators" in outputs[0]
    assert _metrics(tmp_path / "serial") == _metrics(tmp_path / "ray")


# -- every ```python block -----------------------------------------------------------------------------------

PYTHON_PAGES = [page for page in PAGES if fenced_blocks(page, "python")]


def test_the_documentation_has_python_blocks_to_run():
    assert {"engine.md", "extending.md", "nas.md", "pcgrl.md", "evonorm.md"} <= {p.name for p in PYTHON_PAGES}


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=lambda page: page.name)
def test_python_blocks_of_the_page_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "argv", [str(page)])
    module = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", module)  # what the blocks define pickles as __main__.<name>
    for block in fenced_blocks(page, "python"):
        # Pad with blank lines so that a traceback names the page's own line numbers.
        code = compile("\n" * (block.line - 1) + block.text, str(page), "exec")
        exec(code, module.__dict__)


def test_python_blocks_are_not_shell_sessions():
    for page in PYTHON_PAGES:
        for block in fenced_blocks(page, "python"):
            assert not re.match(r"^\s*(\$|>>>)", block.text), f"{page.name}:{block.line}: a session, not a program"


# -- links between the pages ---------------------------------------------------------------------------------

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(page) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, -1, -2 for repeats."""
    seen: dict[str, int] = {}
    anchors = set()
    in_code = False
    for line in page.read_text().splitlines():
        in_code ^= line.startswith("```")
        if in_code or not line.startswith("#"):
            continue
        slug = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def test_links_between_pages_resolve():
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if re.match(r"^[a-z]+:", target):
                continue  # http(s), mailto: not checked here
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path) if path else page
            if not resolved.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_the_index_lists_every_page():
    index = (REPO / "docs" / "index.md").read_text()
    missing = [p.name for p in sorted((REPO / "docs").glob("*.md")) if p.name != "index.md" and f"({p.name})" not in index]
    assert not missing, f"docs/index.md does not list {missing}"
