"""--mode=compare: two workdirs side by side, their configs' differences and their metrics.

    python launch.py --workdir=/tmp/a --mode=compare --compare_to=/tmp/b

Both must be trained workdirs (their config.json and metrics.jsonl are read; lm/collate.py).
"""

from absl import flags

COMPARE_TO = flags.DEFINE_string("compare_to", None, "compare: the workdir to set beside --workdir")


def run(config, workdir: str, experiment: str) -> None:
    if not COMPARE_TO.value:
        raise ValueError("--mode=compare needs --compare_to=DIR, the workdir to set beside --workdir.")
    from lm import collate, console

    console.log(collate.compare(workdir, COMPARE_TO.value))
