"""PCGRL level generators evolved on the engine by ES or by quality diversity (pyribs' CMA-ME / MAP-Elites,
:mod:`evoforge.search.qd`) (Khalifa et al. 2020; NCA and CMA-ME: Earle et al. 2022), and judged by the reference's
evaluation protocol (:mod:`evoforge.policies.level_protocol`, ``evoforge levels``).

A genome is the weights of a generator (:mod:`evoforge.policies.level_generators`). Its evaluation runs the
generator on ``maps`` fresh random maps, map k of a genome with evaluation seed s from ``episode_seeds(s, maps)[k]``,
in one batched simulator for the whole chunk of genomes (:mod:`evoforge.policies.level_generation`: PCGRL
episodes for narrow / turtle / wide, whole-map rewrites for the NCA).

Fitness = mean score + ``valid_weight`` x valid share + ``diversity_weight`` x diversity (both weights 0 by
default: the plain PCGRL objective; the reference NCA work adds a diversity term). Logged per genome:
``valid`` (share of final levels valid under the paper-era definitions), ``path`` (mean path length, or
solution length for sokoban), ``diversity`` (mean pairwise Hamming distance between its final levels / tiles),
``score``, ``steps`` (map-steps simulated), and for a QD search each descriptor (its mean over the maps).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from evoforge.envs.pcgrl.batched_metrics import distinct_count, spread_count
from evoforge.envs.pcgrl.problems import Problem, make_problem
from evoforge.envs.pcgrl.render import archive_sheet, level_grid, palette
from evoforge.devices import resolve_device
from evoforge.errors import UserError
from evoforge.experiments.base import REPLAY_SEED, Experiment, InspectOptions, LevelOptions, ReplayOptions
from evoforge.experiments.config import BaseRunConfig
from evoforge.policies.level_generation import Generated, LevelGeneration
from evoforge.policies.level_protocol import (
    CHANGE_PERCENTAGES,
    GenomeLevels,
    LevelSource,
    PolicyLevels,
    ProtocolResult,
    evaluate_levels,
    sb3_policy,
)
from evoforge.search.es import ESSearcher, ESSettings
from evoforge.search.evaluation import Evaluation, Evaluator
from evoforge.search.qd import QDSearcher, QDSettings
from evoforge.search.rundir import RunDir
from evoforge.search.seeds import RunStream, episode_seeds, run_seed

LEVEL_GRID = "levels.png"  # the run artifact `evoforge replay` writes its level grid to by default
ARCHIVE_PICTURE = "archive.png"  # what `evoforge inspect` draws for a QD run: a level per elite, by descriptor
LEVEL_PROTOCOL = "level_protocol.json"  # what `evoforge levels` writes into the run directory (and its .png)
DESIGN_DISTANCE = 0.2  # valid levels count as different designs when at least this share of their tiles differ


class GeneratorSettings(BaseModel):
    """The ``generator:`` section: PCGRL problem, representation (or ``nca``), maps per evaluation, budgets,
    network width, initial sampling and the fitness weights of validity and diversity.
    """

    model_config = ConfigDict(extra="forbid")

    problem: Literal["binary", "zelda", "sokoban"] = "binary"
    representation: Literal["narrow", "turtle", "wide", "nca"] = "nca"
    maps: int = Field(8, ge=1, description="random starting maps per evaluation")
    change_percentage: float = Field(0.2, gt=0, le=1, description="edit budget of narrow/turtle/wide episodes")
    max_iterations: int | None = Field(
        None, ge=1, description="cap on steps per episode (default: the reference's max_changes * W * H)")
    nca_steps: int = Field(50, ge=1)
    width: int = Field(0, ge=0, description="hidden channels (0: 8 narrow/turtle, 16 wide, 32 nca)")
    objective: Literal["reward", "earle"] = Field(
        "reward", description="a genome's base fitness: the mean reward of its levels (PCGRL), or Earle et al. "
        "2022's 10 x -(distance of the static targets) + max(0, reliability + 10 x diversity)")
    valid_weight: float = Field(0.0, ge=0, description="fitness bonus per unit of valid share")
    diversity_weight: float = Field(0.0, ge=0, description="fitness bonus per unit of Hamming diversity")
    init_std: float = Field(0.1, gt=0, description="std of the initial search center")
    init_samples: int = Field(
        0, ge=0, description="screen this many random genomes (std init_std) and start from the fittest; 0: one")
    problem_options: dict[str, Any] = Field(
        default_factory=dict, description="the problem's settings, as the reference's keyword arguments: targets "
        "(e.g. target_path, valid_path, min_solution), weights {term: w}, ranges {term: [low, high]}, probs [...]")

    @model_validator(mode="after")
    def _problem_options(self) -> GeneratorSettings:
        make_problem(self.problem, **self.problem_options)  # one-line ValueError for a bad option
        return self


# Behaviour descriptors of the quality-diversity search per problem (Earle et al. 2022 pair a level property with
# the path or solution length) and their [low, high] (values outside land in the edge cells).
QD_DESCRIPTORS = {"binary": (("regions", (0.0, 40.0)), ("path-length", (0.0, 100.0))),
                  "zelda": (("nearest-enemy", (0.0, 20.0)), ("path-length", (0.0, 60.0))),
                  "sokoban": (("crate", (0.0, 10.0)), ("solution-length", (0.0, 30.0)))}
EMPTINESS = "emptiness"  # a descriptor every problem has: the share of empty tiles in the final level


class PCGRLConfig(BaseRunConfig):
    """Config of ``experiment: pcgrl``: ES (or quality-diversity search with pyribs) on the weights of a level
    generator."""

    experiment: Literal["pcgrl"]
    generator: GeneratorSettings = GeneratorSettings()
    search: ESSettings | QDSettings = Field(ESSettings(), discriminator="algorithm")
    stop_fitness: float | None = None

    @model_validator(mode="after")
    def _descriptors(self) -> PCGRLConfig:
        if isinstance(self.search, QDSettings):
            problem = make_problem(self.generator.problem, **self.generator.problem_options)
            known = [*problem.batch_stats(np.zeros((1, problem.height, problem.width), dtype=np.uint8)), EMPTINESS]
            for name in self.search.measures:
                if name not in known:
                    raise ValueError(f"search.measures: {problem.name} has no descriptor {name!r} "
                                     f"(descriptors: {', '.join(known)})")
            defaults = dict(QD_DESCRIPTORS[problem.name])
            unranged = [n for n in self.search.measures if n not in defaults and n != EMPTINESS]
            if unranged and not self.search.ranges:
                raise ValueError(f"search.ranges: descriptor {unranged[0]!r} has no default range; give [low, high] "
                                 "for every descriptor")
            if len(descriptors(self)[0]) != len(self.search.cells):
                raise ValueError(f"search.cells has {len(self.search.cells)} entries for "
                                 f"{len(descriptors(self)[0])} descriptors")
        return self


def descriptors(config: PCGRLConfig) -> tuple[list[str], list[list[float]]]:
    """The QD search's descriptor names and ranges: the config's, else the problem's defaults
    (:data:`QD_DESCRIPTORS`); ranges of emptiness default to [0, 1]."""
    search = config.search
    assert isinstance(search, QDSettings)
    defaults = dict(QD_DESCRIPTORS[config.generator.problem])
    names = list(search.measures) or list(defaults)
    ranges = [list(r) for r in search.ranges] or [list(defaults.get(n, (0.0, 1.0))) for n in names]
    return names, ranges


class PCGRLGenerationEvaluator(Evaluator):
    """Runs a chunk of generator genomes on seeded random maps
    (:class:`~evoforge.policies.level_generation.LevelGeneration`); fitness = mean score + ``valid_weight`` x
    valid share + ``diversity_weight`` x Hamming diversity of the genome's levels. Genome g's map k starts from
    seed ``episode_seeds(seeds[g], maps)[k]``.
    """

    def __init__(self, settings: GeneratorSettings, measures: Sequence[str] = (), device: str = "auto") -> None:
        self.settings = settings
        self.measures = tuple(measures)  # descriptors to log per genome (means over its maps), for QD search
        self.device_spec = device

    def setup(self) -> None:
        s = self.settings
        self.problem = make_problem(s.problem, **s.problem_options)
        self.generation = LevelGeneration(self.problem, s.representation, s.change_percentage, s.max_iterations,
                                          s.width, s.nca_steps, device=resolve_device(self.device_spec))

    @property
    def num_params(self) -> int:
        """Number of weights of one generator (the genome's length)."""
        return self.generation.num_params

    def generate(self, genomes: torch.Tensor, seeds: Sequence[int], record: bool = False) -> Generated:
        """Run every genome on its ``maps`` maps, seeded from its evaluation seed."""
        return self.generation.generate(genomes, [episode_seeds(int(seed), self.settings.maps) for seed in seeds],
                                        record)

    def evaluate(self, genomes: torch.Tensor, seeds: Sequence[int]) -> list[Evaluation]:
        out = self.generate(genomes, seeds)
        scores, valid, path, diversity = out.scores, out.valid(self.problem), out.path(self.problem), out.diversity()
        described = self._descriptors(out)
        base = self._earle_objective(out, described, diversity) if self.settings.objective == "earle" else \
            scores.mean(axis=1)
        results = []
        for g in range(len(seeds)):
            fitness = (float(base[g]) + self.settings.valid_weight * float(valid[g].mean())
                       + self.settings.diversity_weight * float(diversity[g]))
            metrics = {"score": float(scores[g].mean()), "valid": float(valid[g].mean()),
                       "path": float(path[g].mean()), "diversity": float(diversity[g]), "steps": float(out.steps[g])}
            metrics.update({name: float(values[g].mean()) for name, values in described.items()})
            results.append(Evaluation(fitness=fitness, metrics=metrics))
        return results

    def _earle_objective(self, out: Generated, described: dict[str, np.ndarray], diversity: np.ndarray
                         ) -> np.ndarray:
        """(G,) Earle et al. 2022's fitness: 10 x mean over the maps of -(sum of the distances of the static
        statistics to their target ranges) + max(0, reliability + 10 x diversity), where the static statistics are
        the reward terms with a finite target range that are not descriptors, reliability = -mean over the
        descriptors of their standard deviation across the genome's maps, and diversity the Hamming diversity."""
        shape = out.scores.shape
        loss = np.zeros(shape)
        for key, _, low, high in self.problem.reward_terms():
            if callable(key) or key in self.measures or not (np.isfinite(low) and np.isfinite(high)):
                continue
            value = np.asarray(out.final[key], dtype=float).reshape(shape)
            loss += np.maximum(low - value, 0) + np.maximum(value - high, 0)
        spread = np.mean([values.std(axis=1) for values in described.values()], axis=0) if described else 0.0
        return 10 * (-loss).mean(axis=1) + np.maximum(0.0, -spread + 10 * diversity)

    def _descriptors(self, out: Generated) -> dict[str, np.ndarray]:
        """(G, K) values of each of ``measures``: a final statistic, or the share of empty tiles."""
        shape = out.scores.shape
        return {name: (out.levels == 0).mean(axis=(2, 3)) if name == EMPTINESS
                else np.asarray(out.final[name], dtype=float).reshape(shape) for name in self.measures}


@dataclass
class ArchiveLevels:
    """A QD archive's elites run on one starting map: their levels (n, H, W), grid cells (n, 2) and validity."""

    problem: Problem
    levels: np.ndarray
    cells: np.ndarray
    valid: np.ndarray

    @property
    def distinct_valid(self) -> int:
        """Different valid levels among them."""
        return distinct_count(self.levels[self.valid])


class PCGRLExperiment(Experiment):
    """``experiment: pcgrl``: ES on level generators; replays write level grids and editing animations."""

    config_class = PCGRLConfig
    video_fps = 10  # editing animations: a few steps per second are readable

    def __init__(self, config: PCGRLConfig) -> None:
        self.config = config
        self.settings = config.run_settings(config.search.generations, config.stop_fitness)

    def evaluator_factory(self) -> partial[PCGRLGenerationEvaluator]:
        """A picklable factory of :class:`PCGRLGenerationEvaluator` with this config's ``generator:`` section
        (and, for a QD search, its descriptors)."""
        measures = descriptors(self.config)[0] if isinstance(self.config.search, QDSettings) else []
        return partial(PCGRLGenerationEvaluator, self.config.generator, measures, device=self.config.device)

    def _evaluator(self, maps: int | None = None) -> PCGRLGenerationEvaluator:
        settings = self.config.generator
        evaluator = PCGRLGenerationEvaluator(settings if maps is None else settings.model_copy(update={"maps": maps}))
        evaluator.setup()
        return evaluator

    def make_searcher(self) -> ESSearcher | QDSearcher:
        """The configured ES, or CMA-ME / MAP-Elites (pyribs; the elites keep their ``valid`` share), from the
        fittest of ``generator.init_samples`` seeded random genomes (the first one when ``init_samples`` <= 1).
        """
        settings = self.config.generator
        evaluator = self._evaluator()
        generator = torch.Generator().manual_seed(run_seed(self.config.seed, RunStream.INITIAL_GENOME))
        samples = max(settings.init_samples, 1)
        candidates = torch.randn(samples, evaluator.num_params, generator=generator) * settings.init_std
        center = candidates[0]
        if samples > 1:
            # random restarts before the ES: the argmax generators have large flat regions (e.g. every map
            # rewritten to one empty room), and a search started inside one never leaves it
            seeds = [run_seed(self.config.seed, RunStream.SCREENING, k) for k in range(samples)]
            fitness = [e.fitness for e in evaluator.evaluate(candidates, seeds)]
            center = candidates[int(np.argmax(fitness))]
        seed = run_seed(self.config.seed, RunStream.SEARCHER)
        if isinstance(self.config.search, QDSettings):
            names, ranges = descriptors(self.config)
            return QDSearcher(self.config.search, center, names, ranges, seed, fields=("valid",))
        return ESSearcher.for_run(self.config.search, center, seed, self.config.pool)

    def load_searcher(self, run_dir: RunDir) -> ESSearcher | QDSearcher:
        """The searcher of the newest checkpoint; a QD searcher is rebuilt without screening ``init_samples``
        random genomes first (the checkpoint holds its whole state)."""
        if not isinstance(self.config.search, QDSettings):
            return super().load_searcher(run_dir)
        _, payload, _ = run_dir.load_checkpoint()
        names, ranges = descriptors(self.config)
        searcher = QDSearcher(self.config.search, torch.zeros(self._evaluator(maps=1).num_params), names, ranges,
                              0, fields=("valid",))
        searcher.load_state_bytes(payload["searcher"])
        return searcher

    def archive_levels(self, searcher: QDSearcher, seed: int = REPLAY_SEED) -> ArchiveLevels:
        """Every elite's level from one fixed starting map (seed ``seed``), with its grid cell and validity."""
        elites = searcher.elites()
        evaluator = self._evaluator(maps=1)
        problem = evaluator.problem
        if not len(elites["objective"]):
            return ArchiveLevels(problem, np.zeros((0, problem.height, problem.width), dtype=np.uint8),
                                 np.zeros((0, 2), dtype=int), np.zeros(0, dtype=bool))
        out = evaluator.generate(torch.as_tensor(elites["solution"], dtype=torch.float32),
                                 [seed] * len(elites["objective"]))
        return ArchiveLevels(problem, out.levels[:, 0], searcher.archive.int_to_grid_index(elites["index"]),
                             np.asarray(problem.valid(out.final), dtype=bool))

    def archive_figure(self, searcher: QDSearcher, drawn: ArchiveLevels) -> Any:
        """A matplotlib figure of the archive: the elites' levels of :meth:`archive_levels`, each drawn in its
        cell, axes in descriptor units (Earle et al. 2022, fig. 3)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names, ranges = descriptors(self.config)
        fig, ax = plt.subplots(figsize=(7, 6.4))
        if len(drawn.levels):
            colours = palette(drawn.problem.name, drawn.problem.tiles)
            sheet = archive_sheet(drawn.levels, drawn.cells, tuple(self.config.search.cells), colours)
            ax.imshow(sheet, extent=(ranges[0][0], ranges[0][1], ranges[1][0], ranges[1][1]), aspect="auto",
                      interpolation="nearest")
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        ax.set_title(f"{len(drawn.levels)} elites ({searcher.metrics()['coverage']:.0%} of the cells); on this map "
                     f"{int(drawn.valid.sum())} of their levels are valid, {drawn.distinct_valid} distinct")
        fig.tight_layout()
        return fig

    def inspect(self, run_dir: RunDir, options: InspectOptions) -> list[str]:
        """A QD run: its archive's statistics and RUN/archive.png (a level per elite, placed by descriptor)."""
        if not isinstance(self.config.search, QDSettings):
            return []
        searcher = self.saved_searcher(run_dir)
        if searcher is None:
            return ["no checkpoint yet: no archive to show"]
        m = searcher.metrics()
        drawn = self.archive_levels(searcher, options.seed)
        fig = self.archive_figure(searcher, drawn)
        path = run_dir.artifact(ARCHIVE_PICTURE)
        fig.savefig(path, dpi=110)
        import matplotlib.pyplot as plt

        plt.close(fig)
        designs = spread_count(drawn.levels[drawn.valid], DESIGN_DISTANCE)
        return [f"archive: {m['elites']:.0f} elites of {np.prod(self.config.search.cells)} cells (coverage "
                f"{m['coverage']:.1%}), QD score {m['qd_score']:.1f}, best objective {m['objective_max']:.2f}, "
                f"valid share of the elites' levels {m['elite_valid']:.1%}",
                f"one starting map (seed {options.seed}) through every elite: {int(drawn.valid.sum())} valid levels, "
                f"{drawn.distinct_valid} distinct, {designs} at Hamming distance >= {DESIGN_DISTANCE} from each other",
                f"archive picture -> {path}"]

    def replay(self, genome: torch.Tensor, episodes: int, seed: int, record: bool = False, env_id: str | None = None
               ) -> tuple[list[float], list[np.ndarray]]:
        """Generate ``episodes`` levels from random maps (map k from seed ``episode_seeds(seed, episodes)[k]``);
        frames (if ``record``) animate the editing of all of them side by side, one frame per step (at most
        300, evenly spaced)."""
        if env_id is not None:
            raise ValueError("PCGRL replays generate levels for the run's own problem; --env does not apply")
        evaluator = self._evaluator(maps=episodes)
        out = evaluator.generate(_flat(genome).reshape(1, -1), [seed], record)
        scores, frames = out.scores, out.frames
        colours = palette(evaluator.problem.name, evaluator.problem.tiles)
        if len(frames) > 300:
            frames = [frames[int(i)] for i in np.linspace(0, len(frames) - 1, 300)]
        pictures = [level_grid(frame[0], colours, columns=min(episodes, 8)) for frame in frames]
        return scores[0].tolist(), pictures

    def level_report(self, genome: torch.Tensor, count: int, seed: int, path: Path) -> dict[str, float]:
        """Generate ``count`` levels (the maps of :meth:`replay` with ``episodes = count``), save them as one
        image grid (a green bar under valid ones), and return the share of valid levels, the mean path /
        solution length and the Hamming diversity."""
        import imageio.v2 as imageio

        evaluator = self._evaluator(maps=count)
        out = evaluator.generate(_flat(genome).reshape(1, -1), [seed])
        problem = evaluator.problem
        valid = out.valid(problem)[0]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        imageio.imwrite(path, level_grid(out.levels[0], palette(problem.name, problem.tiles), marks=valid))
        return {"levels": count, "valid": float(valid.mean()), "path": float(out.path(problem).mean()),
                "diversity": float(out.diversity()[0]), "score": float(out.scores.mean())}

    # -- the per-kind surface of `evoforge replay` and `evoforge report` -------------------------------------
    def replay_run(self, run_dir: RunDir, options: ReplayOptions) -> list[str]:
        """The default replay lines, then a grid of ``options.levels`` generated levels (``options.grid``, default
        RUN/levels.png) with their validity, mean path and diversity."""
        if options.levels < 1:
            raise UserError(f"--levels must be >= 1, got {options.levels}")
        lines = super().replay_run(run_dir, options)
        best = run_dir.read_best(prefer=options.genome)
        assert best is not None  # the default replay above refused a run without one
        grid = options.grid or run_dir.artifact(LEVEL_GRID)
        stats = self.level_report(best.genome, options.levels, options.seed, grid)
        return [*lines, f"{stats['levels']} levels: {stats['valid']:.0%} valid, mean path {stats['path']:.1f}, "
                        f"diversity {stats['diversity']:.3f}", f"level grid -> {grid}"]

    def levels(self, run_dir: RunDir, options: LevelOptions) -> list[str]:
        """``evoforge levels RUN``: the best generator through the reference's evaluation protocol
        (:mod:`evoforge.policies.level_protocol`); the table goes to RUN/level_protocol.json and its plot beside."""
        best = run_dir.read_best(prefer=options.genome)
        if best is None:
            return [f"no {RunDir.BEST} yet: no generator to judge"]
        s = self.config.generator
        problem = make_problem(s.problem, **s.problem_options)
        source = GenomeLevels(problem, s.representation, _flat(best.genome), s.width, s.nca_steps,
                              options.max_iterations)
        result = run_level_protocol(source, problem, options)
        out = options.out or run_dir.artifact(LEVEL_PROTOCOL)
        return [*result.lines(), *save_level_protocol(result, out, {"genome": best.kind, "run": str(run_dir.path)})]

    def report_sections(self, report: Any, run_dir: RunDir, media: bool) -> None:
        """A grid of generated levels (green bar = valid) with their statistics, the editing of several levels
        animated step by step (Khalifa et al. 2020; Earle et al. 2021 for the NCA), and the reference
        protocol's table when ``evoforge levels`` has measured it."""
        if isinstance(self.config.search, QDSettings):
            self._archive_section(report, run_dir, media)
        best = run_dir.read_best()
        section = report.section("Generated levels")
        if best is None:
            section.note(f"no {RunDir.BEST} yet: no generator to run")
            return
        if not media:
            section.note("generated levels left out (--no-media)")
            self._protocol_section(report, run_dir)
            return
        with tempfile.TemporaryDirectory() as tmp:  # the report never changes the run's files
            grid = Path(tmp) / LEVEL_GRID
            stats = self.level_report(best.genome, 32, REPLAY_SEED, grid)
            section.figure(grid, f"32 levels from the best {best.kind} generator (seed {REPLAY_SEED}); a green bar "
                                 "marks the valid ones.")
        section.table(["levels", "valid", "mean path / solution length", "Hamming diversity", "mean score"],
                      [(stats["levels"], stats["valid"], stats["path"], stats["diversity"], stats["score"])])
        _, frames = self.replay(best.genome, 8, REPLAY_SEED, record=True)
        report.section("Editing animation").animation(
            frames, "Eight levels being edited by the generator, one frame per step.", fps=self.video_fps,
            max_width=900)
        self._protocol_section(report, run_dir)

    def _archive_section(self, report: Any, run_dir: RunDir, media: bool) -> None:
        """A QD run's archive: its statistics, their curves and (with media) the levels placed by descriptor."""
        section = report.section("Quality-diversity archive")
        searcher = self.saved_searcher(run_dir)
        if searcher is None:
            section.note("no checkpoint yet: no archive to show")
            return
        m = searcher.metrics()
        section.table(["algorithm", "elites", "coverage", "QD score", "best objective", "valid share of elites"],
                      [(self.config.search.algorithm, m["elites"], m["coverage"], m["qd_score"], m["objective_max"],
                        m["elite_valid"])],
                      caption=f"QD score = sum over elites of (objective - {self.config.search.qd_score_offset:g}); "
                              f"archive {' x '.join(map(str, self.config.search.cells))} cells")
        records = run_dir.read_metrics()
        if records:
            section.figure(_qd_curves(records), "QD score and coverage per generation.")
        if media:
            section.figure(self.archive_figure(searcher, self.archive_levels(searcher)),
                           "Every elite's level from the same starting map, in its archive cell "
                           "(axes: the descriptors).")
        else:
            section.note("the archive's levels left out (--no-media)")

    def _protocol_section(self, report: Any, run_dir: RunDir) -> None:
        """The table `evoforge levels` saved (RUN/level_protocol.json) and its plot, or how to make it."""
        import json

        section = report.section("Reference evaluation protocol")
        path = run_dir.artifact(LEVEL_PROTOCOL)
        if not path.is_file():
            section.note(f"not measured yet: evoforge levels {run_dir.path} (early stop off, change percentage "
                         "0.0-1.0, starting maps at the reference's densities; Khalifa et al. 2020)")
            return
        result = ProtocolResult.from_json(json.loads(path.read_text()))
        header, rows = result.table()
        section.note(result.lines()[0])
        section.table(header, rows)
        with tempfile.TemporaryDirectory() as tmp:
            section.figure(result.plot(Path(tmp) / "protocol.png"),
                           "Valid levels and Hamming diversity against the change percentage (95 % CI over seeds).")


def run_level_protocol(source: LevelSource, problem: Any, options: LevelOptions) -> ProtocolResult:
    """:func:`~evoforge.policies.level_protocol.evaluate_levels` with a progress bar; bad options -> UserError."""
    from evoforge.search.progress import progress_bar

    sweep = options.change_percentages or CHANGE_PERCENTAGES
    rows = 1 if source.representation == "nca" else len(sweep)
    with progress_bar(f"{problem.name}-{source.representation}", rows, enabled=not options.quiet) as bar:
        try:
            return evaluate_levels(source, problem, options.seeds, options.maps, sweep,
                                   options.start,  # type: ignore[arg-type]
                                   progress=lambda done, total: bar.update(done))
        except ValueError as exc:
            raise UserError(str(exc).splitlines()[0]) from None


def save_level_protocol(result: ProtocolResult, out: Path, about: dict[str, Any]) -> list[str]:
    """Write the protocol's JSON (with ``about``: what was judged) to ``out`` and its plot beside it (.png)."""
    from evoforge.search.storage import write_json

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, {**about, **result.to_json()})
    plot = result.plot(out.with_suffix(".png"))
    return [f"protocol table -> {out}", f"plot -> {plot}"]


SB3_ALGORITHMS = ("ppo", "a2c", "dqn")  # those whose policies act in Discrete spaces, as every PCGRL env's


def sb3_level_protocol(model_path: Path, env_id: str, algorithm: str, options: LevelOptions) -> list[str]:
    """``evoforge levels MODEL.zip --env ID``: a stable-baselines3 policy trained on a registered PCGRL env
    (``evoforge/pcgrl-{problem}-{representation}-v0``, its kwargs included) through the same protocol,
    actions sampled as the reference's inference (``options.deterministic``: argmax); the table goes to
    MODEL.level_protocol.json unless ``options.out``."""
    import gymnasium

    import evoforge.envs  # noqa: F401 - registers the ids

    if algorithm not in SB3_ALGORITHMS:
        raise UserError(f"--algorithm must be one of {', '.join(SB3_ALGORITHMS)}, got {algorithm!r}")
    model_path = Path(model_path)
    if not model_path.is_file():
        raise UserError(f"{model_path} is not a file (a stable-baselines3 model .zip)")
    try:
        kwargs = dict(gymnasium.spec(env_id).kwargs)
    except gymnasium.error.Error:
        raise UserError(f"unknown env id {env_id!r} (PCGRL ids: evoforge/pcgrl-PROBLEM-REPRESENTATION-v0)") from None
    if "problem" not in kwargs or "representation" not in kwargs:
        raise UserError(f"{env_id} is not a PCGRL env")
    try:
        import stable_baselines3
    except ImportError:
        raise UserError("judging a stable-baselines3 model needs stable-baselines3 (pip install stable-baselines3)"
                        ) from None
    name, representation = kwargs.pop("problem"), kwargs.pop("representation")
    kwargs.pop("change_percentage", None)  # the protocol sweeps it
    problem = make_problem(name, **kwargs)
    try:
        model = getattr(stable_baselines3, algorithm.upper()).load(str(model_path), device="cpu")
    except Exception as exc:  # a zip of another algorithm or version: say so in one line
        raise UserError(f"cannot load {model_path} as a stable-baselines3 {algorithm.upper()} model: "
                        f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    source = PolicyLevels(problem, representation, sb3_policy(model, options.deterministic), options.max_iterations)
    result = run_level_protocol(source, problem, options)
    out = options.out or model_path.with_suffix(".level_protocol.json")
    about = {"model": str(model_path), "env": env_id, "algorithm": algorithm,
             "actions": "argmax" if options.deterministic else "sampled"}
    return [*result.lines(), *save_level_protocol(result, out, about)]


def _qd_curves(records: list[dict[str, Any]]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    generations = [r["generation"] for r in records]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3))
    for ax, key in zip(axes, ("qd_score", "coverage")):
        ax.plot(generations, [r.get(key, float("nan")) for r in records])
        ax.set_xlabel("generation")
        ax.set_ylabel(key.replace("_", " "))
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _flat(genome: Any) -> torch.Tensor:
    """A genome read back from a run (a tensor, or anything tensor-like) as a flat float tensor."""
    return torch.as_tensor(genome).detach().flatten().to(torch.float32)
