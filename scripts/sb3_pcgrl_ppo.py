"""The PCGRL paper's baseline: PPO with its conv policy on the batched simulator (stable-baselines3), then the
reference's evaluation protocol on the trained policy (`evoforge levels`).

    python scripts/sb3_pcgrl_ppo.py --problem binary --representation narrow --steps 300000 --out runs/ppo/binary
    python scripts/sb3_pcgrl_ppo.py --problem zelda --steps 300000 --out runs/ppo/zelda   # resumes if stopped

Trains PPO (evoforge.policies.sb3_pcgrl: the paper's conv network, PPO2 settings, 50 maps per batch) for
``--steps`` environment steps, saving OUT/model.zip every ``--save-every`` steps, so an interrupted run continues
from its last save when started again. Then judges the policy (actions sampled, as the reference's inference)
by the protocol: early stop off, change percentage 0.0-1.0, starting maps at the reference's densities,
``--seeds`` x ``--maps``; the table goes to OUT/model.level_protocol.json and its plot beside it. The paper trained 1e8 steps per cell; print the steps/s
to see what a budget buys. Needs stable-baselines3 (installed with the test extras).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def train(problem: str, representation: str, steps: int, envs: int, seed: int, out: Path, save_every: int,
          n_steps: int = 128) -> tuple[object, float, int]:
    """Train (or continue) PPO to ``steps`` steps; returns (model, seconds spent now, steps done now)."""
    from stable_baselines3 import PPO

    from evoforge.policies.sb3_pcgrl import PCGRLSB3VecEnv, make_ppo

    env = PCGRLSB3VecEnv(problem, representation, envs)
    path = out / "model.zip"
    if path.is_file():
        model = PPO.load(str(path), env=env, device="cpu")
    else:
        model = make_ppo(env, seed=seed, n_steps=n_steps)
    start, began = model.num_timesteps, time.perf_counter()
    while model.num_timesteps < steps:
        chunk = min(save_every, steps - model.num_timesteps)
        model.learn(total_timesteps=chunk, reset_num_timesteps=False, progress_bar=False)
        out.mkdir(parents=True, exist_ok=True)
        model.save(str(path))
        print(f"{model.num_timesteps:,} / {steps:,} steps", flush=True)
    if not path.is_file():
        out.mkdir(parents=True, exist_ok=True)
        model.save(str(path))
    return model, time.perf_counter() - began, model.num_timesteps - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problem", choices=["binary", "zelda", "sokoban"], default="binary")
    parser.add_argument("--representation", choices=["narrow", "turtle", "wide"], default="narrow")
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--envs", type=int, default=50, help="maps per batch (the paper: 50 envs)")
    parser.add_argument("--save-every", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=5, help="protocol seeds")
    parser.add_argument("--maps", type=int, default=50, help="protocol maps per seed")
    parser.add_argument("--change", type=float, nargs="+", help="protocol change percentages (default 0.0 ... 1.0)")
    parser.add_argument("--max-iterations", type=int, help="protocol cap on steps per episode")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    model, seconds, done = train(args.problem, args.representation, args.steps, args.envs, args.seed, args.out,
                                 args.save_every)
    if done:
        print(f"PPO {args.problem}-{args.representation}: {done:,} steps in {seconds:.0f} s "
              f"({done / max(seconds, 1e-9):,.0f} steps/s)")
    from evoforge.cli import main as evoforge

    judge = ["levels", str(args.out / "model.zip"), "--env", f"evoforge/pcgrl-{args.problem}-{args.representation}-v0",
             "--seeds", str(args.seeds), "--maps", str(args.maps), "--quiet"]
    judge += ["--change", *map(str, args.change)] if args.change else []
    judge += ["--max-iterations", str(args.max_iterations)] if args.max_iterations else []
    code = evoforge(judge)
    if code:
        raise SystemExit(code)
    result = json.loads((args.out / "model.level_protocol.json").read_text())
    result["training"] = {"steps": model.num_timesteps, "envs": args.envs, "seed": args.seed}
    (args.out / "model.level_protocol.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
