"""`evoforge report`: one self-contained HTML page per run, checked in headless Chromium for every kind of run.

The browser part needs Debian's chromium and chromium-driver (installed by .ci/run). Without them these tests
skip, unless EVOFORGE_REQUIRE_BROWSER=1 (set by .ci/run), where a missing browser fails them.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from evoforge.cli import main

from .conftest import CONFIGS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

POET_TINY = ["agent.max_episode_steps=40", "search.popsize=4", "poet.reproduce_every=2", "poet.transfer_every=2",
             "poet.repro_threshold=-1000", "poet.mc_low=-1000", "poet.mc_high=1000", "poet.children=3",
             "poet.capacity=2", "poet.generations=4"]
NAS_TINY = ["data.image_size=8", "data.max_train=64", "network.channels=4", "training.epochs=1",
            "proxy.batch_size=16"]
EVONORM_TINY = ["data.image_size=8", "data.max_train=128", "training.width=4", "training.steps=6",
                "rejection.quality_steps=3", "rejection.stress_steps=3", "search.population_size=3",
                "search.sample_size=2", "search.children=2", "search.generations=3", "rejection.quality_threshold=0"]

# kind -> (config, overrides, section titles the report must have, videos it must have)
RUNS = {
    "hebbian": ("quickstart.yaml", ["search.generations=2", "search.popsize=8", "center_eval.evaluations=2"],
                ["Learning curves", "Best agent", "Weights during an episode", "Plasticity attribution"], 1),
    "hebbian_navigation": ("hebbian_navigation.yaml", ["search.generations=2", "search.popsize=4",
                                                       "center_eval.evaluations=2"],
                           ["Best agent", "Plasticity attribution", "Recovery after a mid-episode change"], 1),
    "gym_control": ("es_cartpole.yaml", ["search.generations=2", "search.popsize=8"],
                    ["Learning curves", "Best agent"], 1),
    "function": ("function_sphere.yaml", ["search.generations=3"], ["Learning curves", "Metrics"], 0),
    "pcgrl": ("pcgrl_binary_nca.yaml", ["search.popsize=8", "search.generations=2", "generator.maps=3",
                                        "center_eval.every=0"], ["Generated levels", "Editing animation"], 1),
    "poet": ("poet_quick.yaml", POET_TINY, ["POET", "Environment tree", "Best agent"], 1),
    "nas": ("nas_random_digits.yaml", [*NAS_TINY, "search.generations=3"], ["Architectures"], 0),
    "nas_benchmark": ("nas_benchmark_digits.yaml", [*NAS_TINY, "benchmark.architectures=4", "benchmark.chunk=2",
                                                    "training.seeds=[0,1]", "benchmark.select_n=[2]",
                                                    "benchmark.repeats=10"],
                      ["Proxies against accuracy", "Most accurate cells"], 0),
    "evonorm": ("evonorm_digits.yaml", EVONORM_TINY, ["Layers"], 0),
}


def _run(kind: str, out: Path) -> Path:
    config, overrides, _, _ = RUNS[kind]
    sets = [arg for override in overrides for arg in ("--set", override)]
    assert main(["run", str(CONFIGS / config), "--serial", "--quiet", "--out", str(out), *sets]) == 0
    return out


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None or CHROMEDRIVER is None:
        if os.environ.get("EVOFORGE_REQUIRE_BROWSER") == "1":
            pytest.fail("EVOFORGE_REQUIRE_BROWSER=1 but chromium / chromedriver are not installed")
        pytest.skip("headless Chromium not installed (Debian: apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # Without the background-networking flags Chromium keeps trying to reach the internet at start.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1300,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def render(driver, path: Path) -> dict:
    """Open the page and collect what a reader would notice: script errors, broken images, unplayable videos."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(path.resolve().as_uri())
    WebDriverWait(driver, 30).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && Array.from(document.querySelectorAll('video'))"
        ".every(v => v.readyState >= 2 || v.error)"))
    page = driver.execute_script("""
        return {
          figures: document.body.dataset.figures,
          images: Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight]),
          videos: Array.from(document.querySelectorAll('video')).map(v => [v.readyState, v.videoWidth,
                                                                          v.error ? v.error.code : 0]),
          sections: Array.from(document.querySelectorAll('section h2')).map(h => h.textContent),
          toc: document.querySelectorAll('nav a').length,
        };""")
    page["errors"] = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    return page


@pytest.mark.parametrize("kind", list(RUNS))
def test_report_of_every_kind_of_run_renders_in_chromium(kind, tmp_path, browser, capsys):
    run_dir = _run(kind, tmp_path / kind)
    capsys.readouterr()
    assert main(["report", str(run_dir)]) == 0
    assert "warning" not in capsys.readouterr().err  # no view failed
    html = (run_dir / "report.html").read_text()
    # Self-contained: every image and video is inlined, nothing is fetched.
    sources = re.findall(r'\bsrc="([^"]*)"', html)
    assert sources and all(source.startswith("data:") for source in sources)
    assert "http://" not in html and "https://" not in html

    page = render(browser, run_dir / "report.html")
    assert page["errors"] == []
    _, _, sections, videos = RUNS[kind]
    for title in ["Overview", *sections, "Config", "Files"]:
        assert title in page["sections"], (title, page["sections"])
    assert page["toc"] == len(page["sections"])
    assert len(page["images"]) >= 2 and all(done and w > 50 and h > 50 for done, w, h in page["images"])
    assert len(page["videos"]) == videos
    assert all(state >= 2 and width > 0 and error == 0 for state, width, error in page["videos"])
    assert int(page["figures"]) == len(page["images"]) + len(page["videos"])


def test_tables_sort_when_a_header_is_clicked(tmp_path, browser):
    run_dir = _run("function", tmp_path / "run")
    main(["report", str(run_dir), "--out", str(tmp_path / "r.html")])
    render(browser, tmp_path / "r.html")
    from selenium.webdriver.common.by import By

    metrics = [s for s in browser.find_elements(By.CSS_SELECTOR, "section") if "Metrics" in s.text][0]
    header = metrics.find_elements(By.CSS_SELECTOR, "th")[0]  # generation
    column = "return Array.from(arguments[0].querySelectorAll('tbody tr td:first-child')).map(td => td.textContent)"
    assert browser.execute_script(column, metrics) == ["0", "1", "2"]
    header.click()
    header.click()  # second click: descending
    assert browser.execute_script(column, metrics) == ["2", "1", "0"]
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_no_media_leaves_out_replays_and_bad_input_is_one_line(tmp_path, capsys):
    run_dir = _run("gym_control", tmp_path / "run")
    assert main(["report", str(run_dir), "--no-media", "--out", str(tmp_path / "quick.html")]) == 0
    html = (tmp_path / "quick.html").read_text()
    assert "<video" not in html and "left out (--no-media)" in html and "<img" in html
    capsys.readouterr()
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a run directory" in err


def test_report_of_a_run_that_has_not_finished_a_generation(tmp_path):
    from evoforge.report import build_report

    run_dir = tmp_path / "fresh"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text((CONFIGS / "function_sphere.yaml").read_text())
    report = build_report(run_dir)
    assert report.problems == []
    assert "No summary.json yet" in report.render()


def test_report_of_an_ablation_renders_its_statistics_plots_and_runs(tmp_path, browser):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: tiny\nconfig: {CONFIGS / 'function_sphere.yaml'}\nseeds: 2\n"
                    "set: {search.generations: 3}\ngrid: {search.popsize: [8, 16]}\n"
                    "metrics: [best_fitness, final.fitness_mean]\ncurve: fitness_best\n")
    out = tmp_path / "ablation"
    assert main(["ablate", str(spec), "--out", str(out), "--quiet"]) == 0
    assert main(["report", str(out)]) == 0
    page = render(browser, out / "report.html")
    assert page["errors"] == []
    assert page["sections"][:3] == ["Overview", "best_fitness", "final.fitness_mean"]
    assert {"Plots", "Runs", "Spec"} <= set(page["sections"])
    assert len(page["images"]) == 2 and all(done and w > 50 for done, w, _ in page["images"])
    html = (out / "report.html").read_text()
    assert all(f"search.popsize={size}/seed-{seed}" in html for size in (8, 16) for seed in (0, 1))


def test_an_ablation_report_shows_the_adaptation_tables_and_recovery_plot(tmp_path):
    """scripts/adaptation_table.py writes adaptation.md (a heading, markdown tables with ``\\|`` in cells) and
    recovery.png into the ablation directory; the ablation's report shows both."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from evoforge.report.ablation import build_ablation_report

    (tmp_path / "plan.json").write_text(
        '{"spec": "spec.yaml", "overrides": [], "runs": [{"variant": "hebbian", "seed": 0, "run": "hebbian/seed-0"}]}')
    (tmp_path / "spec.yaml").write_text("name: tiny\n")
    (tmp_path / "adaptation.md").write_text(
        "### quadruped\n\n| arm | standard ant |\n|---|---|\n| hebbian | 24.9 [-2.5, 52.4] |\n"
        "| static | 5.2 [4.4, 6.0] (p 0.14) |\n\n| Hebbian control | Welch p vs evolved |\n|---|---|\n"
        "| evolved |  |\n| share of sum \\|dw\\| from activity terms | |\n")
    plt.plot([0, 1], [0, 1])
    plt.savefig(tmp_path / "recovery.png")
    plt.close("all")
    page = build_ablation_report(tmp_path).render()
    section = page[page.index("Adaptation within an episode"):]
    assert "<caption>quadruped</caption>" in section or ">quadruped<" in section
    for cell in ("hebbian", "24.9 [-2.5, 52.4]", "5.2 [4.4, 6.0] (p 0.14)", "Hebbian control",
                 "share of sum |dw| from activity terms"):
        assert f"<td>{cell}</td>" in section or f"<th>{cell}</th>" in section, cell
    assert "<td>---</td>" not in section and section.count("<img") == 1
