"""Ablation: position encoding (learned / sinusoidal / rotary) x 3 seeds, nanoGPT's CPU shakespeare_char recipe.

Config arguments:
  cpu    experiments/shakespeare_char.py:cpu (4 layers, d_model 128, context 64, 2000 steps); the sweep
         varies model.position over learned, sinusoidal, rotary (and sinusoidal with
         model.embedding_scale) and seed over 0, 1, 2
  smoke  the same sweep at smoke size (tests)

    python launch.py --config=experiments/positions.py:cpu --mode=sweep --workdir=workdirs/positions \\
        --config.data.path=../shared/data/tinyshakespeare.txt
    python launch.py --config=experiments/positions.py:cpu --mode=collate --workdir=workdirs/positions

The first trains the 12 runs one after the other into workdirs/positions/model.position=...,seed=.../
(`--sweep_index=i` runs the i-th only: a SLURM array of 12); the second writes results.md, results.csv and
curves.png there. Measured on 2 CPU cores (2026-11-30), eval/loss on the whole validation split at step
2000, mean ± sample sd over seeds 0-2 (docs/experiments.md's "A shipped ablation" has the table and the plot):
  learned     1.901 ± 0.006   (1.9056 / 1.9034 / 1.8944: shakespeare_char.py:cpu's own seeds, exactly)
  sinusoidal  2.313 ± 0.077   (added at unit scale to N(0, 0.02) embeddings: they swamp them)
  rotary      1.791 ± 0.012
  sinusoidal, model.embedding_scale=True (embeddings x sqrt(d_model) first, as Vaswani et al.): 1.933 ± 0.016
18 min 26 s for the first 9 runs, one after the other.
"""

import os

from lm import experiment

HERE = os.path.dirname(os.path.abspath(__file__))


def get_config(arg: str = "cpu") -> "ml_collections.ConfigDict":  # noqa: F821
    if arg not in ("cpu", "smoke"):
        raise ValueError(f"experiments/positions.py takes cpu or smoke, not {arg!r}.")
    return experiment.load(os.path.join(HERE, "shakespeare_char.py")).get_config(arg)


def get_sweep(arg: str = "cpu") -> list[dict]:
    positions = experiment.grid({"model.position": ["learned", "sinusoidal", "rotary"]}, seeds=[0, 1, 2])
    scaled = experiment.grid({"model.position": ["sinusoidal"], "model.embedding_scale": [True]}, seeds=[0, 1, 2])
    return positions + scaled  # the paper's sinusoids: embeddings x sqrt(d_model) first
