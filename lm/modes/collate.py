"""--mode=collate: a sweep's table (the final metrics of every variant) and its curves; or one run's curves.

    python launch.py --config=experiments/positions.py:cpu --mode=collate --workdir=/tmp/pos
    python launch.py --mode=collate --workdir=workdirs/default   # one run: WORKDIR/curves.png

lm/collate.py writes WORKDIR/results.md, results.csv and curves.png (a line per variant, its seeds as a band).
"""

from absl import flags

METRIC = flags.DEFINE_string("metric", None, "collate: another metric for the table and plot, e.g. eval/accuracy")


def run(config, workdir: str, experiment: str) -> None:
    from lm import collate

    collate.collate(workdir, METRIC.value)
