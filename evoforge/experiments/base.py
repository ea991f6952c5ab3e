"""The experiment interface: what one kind of experiment declares, and what cli, report and Run call.

A kind of experiment is one class deriving from :class:`Experiment`, registered in
:data:`evoforge.experiments.EXPERIMENTS` (or named in a config as ``package.module:Class``). Required:

* ``config_class`` -- its pydantic config schema (a :class:`~evoforge.experiments.config.BaseRunConfig`);
* ``__init__(config)`` -- sets ``self.config`` and ``self.settings`` (a :class:`~evoforge.search.settings.RunSettings`);
* :meth:`Experiment.evaluator_factory` and :meth:`Experiment.make_searcher`.

Optional capabilities, each with a default that does nothing or says the kind has no such thing:

* ``generations_key`` -- the config key that ``evoforge resume --generations N`` sets (``search.generations``);
  :meth:`Experiment.with_generations` for budgets that are not one key;
* :meth:`Experiment.on_generation` -- files derived from the searcher after every committed generation;
* :meth:`Experiment.final_summary` -- numbers computed once the search has ended (merged into summary.json);
* :meth:`Experiment.replay` -- play a genome for some episodes (``evoforge replay``, videos in reports);
* :meth:`Experiment.replay_run` -- what ``evoforge replay RUN`` does (default: the best genome through ``replay``);
* :meth:`Experiment.inspect` -- what ``evoforge inspect RUN`` prints and plots after the summary and the
  fitness curve;
* :meth:`Experiment.report_sections` -- the kind's own sections of ``evoforge report RUN``;
* :meth:`Experiment.attribute` -- ``evoforge attribute RUN``: controls that test what the evolved agent's
  performance is owed to (Hebbian runs: plasticity attribution).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from evoforge.errors import CheckpointError, UserError
from evoforge.search.pool import EvaluatorFactory
from evoforge.search.run import RunOutcome, Searcher
from evoforge.search.rundir import RunDir
from evoforge.search.settings import RunSettings

REPLAY_SEED = 12345  # the default --seed of `evoforge replay` and `evoforge inspect`, and the seed of reports


@dataclass(frozen=True)
class InspectOptions:
    """The options of ``evoforge inspect``: the episode's seed and env, the perturbation step, the plot path."""

    seed: int = REPLAY_SEED
    env_id: str | None = None
    perturb_at: int | None = None
    plot: Path | None = None


@dataclass(frozen=True)
class ReplayOptions:
    """The options of ``evoforge replay``; kinds read the ones that apply to them."""

    episodes: int = 3
    seed: int = REPLAY_SEED
    genome: str = "center"  # "center" (the best-scoring center, when the run has one) or "sample"
    video: Path | None = None
    env_id: str | None = None
    levels: int = 32  # level generators: how many levels in the grid
    grid: Path | None = None  # level generators: where the grid goes (default RUN/levels.png)
    agent: int | None = None  # POET: which agent (pair id)
    on: int | None = None  # POET: on which environment


@dataclass(frozen=True)
class AttributeOptions:
    """The options of ``evoforge attribute``: episodes per control, their seed and env, the freeze steps."""

    episodes: int | None = None  # None: the config's attribution.episodes
    seed: int = REPLAY_SEED
    env_id: str | None = None
    freeze_at: tuple[int, ...] | None = None


@dataclass(frozen=True)
class LevelOptions:
    """The options of ``evoforge levels`` (the reference's evaluation protocol of a level generator): seeds x
    maps, the change percentages, the starting densities, the genome, an optional iteration cap (default the
    reference's max_changes x W x H) and where the table goes."""

    seeds: int = 5
    maps: int = 50
    change_percentages: tuple[float, ...] | None = None  # None: the reference's sweep 0.0, 0.1, ..., 1.0
    start: str = "reference"
    genome: str = "center"
    max_iterations: int | None = None
    out: Path | None = None  # the JSON (default RUN/level_protocol.json); the plot goes beside it (.png)
    quiet: bool = False
    deterministic: bool = False  # stable-baselines3 models: argmax actions instead of sampled ones (the reference's)


class Experiment(ABC):
    """One kind of experiment; see the module docstring for what is required and what is optional."""

    config_class: ClassVar[type[BaseModel]]
    generations_key: ClassVar[str] = "search.generations"
    video_fps: ClassVar[int] = 30

    config: Any
    settings: RunSettings

    # -- required ------------------------------------------------------------------------------------------
    @abstractmethod
    def evaluator_factory(self) -> EvaluatorFactory:
        """A picklable zero-argument callable that builds the evaluator inside each worker."""

    @abstractmethod
    def make_searcher(self) -> Searcher:
        """A fresh searcher for generation 0 (the run restores its state when resuming)."""

    # -- the run's hooks -----------------------------------------------------------------------------------
    def with_generations(self, generations: int) -> BaseModel:
        """This experiment's config with a budget of ``generations`` (``evoforge resume --generations N``)."""
        data = self.config.model_dump(mode="json")
        node = data
        *sections, key = self.generations_key.split(".")
        for section in sections:
            node = node[section]
        node[key] = generations
        return self.config_class.model_validate(data)

    def on_generation(self, run_dir: RunDir, searcher: Any) -> None:
        """Write files derived from the searcher after every committed generation (default: none)."""

    def initial_context(self) -> Any:
        """The evaluation context of the first generation, sent with every chunk to the evaluators
        (:meth:`Evaluator.set_context`) and kept in checkpoints and best.pt (default: None, no context)."""
        return None

    def update_context(self, context: Any, evaluations: list[Any]) -> Any:
        """The next generation's context from this one's and the generation's evaluations (their ``extras``),
        in input order (default: unchanged)."""
        return context

    def final_summary(self, outcome: RunOutcome) -> dict[str, Any]:
        """Numbers computed once the search has ended, merged into summary.json (default: none).

        Runs again when a finished run is resumed or extended, so it must depend only on ``outcome`` and the
        config; an interruption during it leaves the run resumable.
        """
        return {}

    # -- the per-kind surface ------------------------------------------------------------------------------
    def replay(self, genome: Any, episodes: int, seed: int, record: bool = False, env_id: str | None = None
               ) -> tuple[list[float], list[Any]]:
        """Returns of ``episodes`` episodes of ``genome`` (seeds ``episode_seeds(seed, episodes)``) and, with
        ``record``, their frames. Default: this kind has no episodes to replay."""
        raise UserError(f"experiment {self.config.experiment!r} has no replay")

    def load_searcher(self, run_dir: RunDir) -> Any:
        """The searcher of the run's newest valid checkpoint (raises CheckpointError without one)."""
        _, payload, _ = run_dir.load_checkpoint()
        searcher = self.make_searcher()
        searcher.load_state_bytes(payload["searcher"])
        return searcher

    def saved_searcher(self, run_dir: RunDir) -> Any:
        """:meth:`load_searcher`, or None when the run has no checkpoint it can read (for views and inspect
        output that say "nothing yet" instead of failing)."""
        try:
            return self.load_searcher(run_dir)
        except CheckpointError:
            return None

    def replay_run(self, run_dir: RunDir, options: ReplayOptions) -> list[str]:
        """``evoforge replay RUN``: lines to print. Default: the best genome (``options.genome``) played for
        ``options.episodes`` episodes through :meth:`replay`, with a video if asked."""
        from evoforge.media import write_video

        best = run_dir.read_best(prefer=options.genome)
        if best is None:
            raise UserError(f"{run_dir} has no best genome yet (no {RunDir.BEST})")
        context = {"context": best.context} if best.context is not None else {}  # e.g. an obs normaliser
        try:
            returns, frames = self.replay(best.genome, options.episodes, options.seed, record=options.video is not None,
                                          env_id=options.env_id, **context)
        except ValueError as exc:
            raise UserError(str(exc).splitlines()[0]) from None
        lines = [f"episode {episode}: return {value:.2f}" for episode, value in enumerate(returns)]
        lines.append(f"{best.kind} genome: mean return {sum(returns) / len(returns):.2f} over {len(returns)} episodes")
        if options.video is not None:
            lines.append(f"video -> {write_video(frames, options.video, fps=self.video_fps)}")
        return lines

    def inspect(self, run_dir: RunDir, options: InspectOptions) -> list[str]:
        """``evoforge inspect RUN``: lines to print after the summary and the fitness curve, writing any plots
        into the run directory (default: nothing more)."""
        return []

    def attribute(self, run_dir: RunDir, options: AttributeOptions) -> list[str]:
        """``evoforge attribute RUN``: lines to print (a table of controls). Default: this kind has none."""
        raise UserError(f"experiment {self.config.experiment!r} has no attribution controls")

    def levels(self, run_dir: RunDir, options: LevelOptions) -> list[str]:
        """``evoforge levels RUN``: lines to print (a level generator judged by the reference's protocol).
        Default: this kind makes no levels."""
        raise UserError(f"{run_dir.path} is a {self.config.experiment!r} run; evoforge levels judges PCGRL level "
                        "generators")

    def report_sections(self, report: Any, run_dir: RunDir, media: bool) -> None:
        """Add this kind's sections to ``report`` (an :class:`evoforge.report.page.Report`); with ``media``,
        replays with fixed seeds for videos and pictures. Never changes the run's files (default: none)."""
