"""Ablations: every variant x seed of a spec run on the Ray cluster, resumable, then tabulated and plotted.

``evoforge ablate SPEC`` (docs/ablations.md): :mod:`~evoforge.ablation.spec` reads and expands the spec and
validates every run's config before anything starts, :mod:`~evoforge.ablation.runner` runs them as Ray tasks
(skipping finished runs, resuming interrupted ones), :mod:`~evoforge.ablation.results` writes results.csv,
results.md (mean ± std, Student-t 95 % interval, n, Welch's p) and the plots, with the statistics of
:mod:`~evoforge.stats`.
"""

from evoforge.ablation.runner import execute_run, run_ablation_command, write_results
from evoforge.ablation.spec import AblationSpec, PlannedRun, load_spec, plan, variants
from evoforge.stats import Summary, summarise, welch_p

__all__ = ["AblationSpec", "PlannedRun", "Summary", "execute_run", "load_spec", "plan", "run_ablation_command",
           "summarise", "variants", "welch_p", "write_results"]
