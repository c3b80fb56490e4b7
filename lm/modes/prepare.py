"""--mode=prepare: tokenizes a corpus on disk into token shards in data.shards, which training then reads.

    python launch.py --config=experiments/shakespeare_char.py:cpu --mode=prepare \\
        --config.data.path=tinyshakespeare.txt --config.data.shards=/tmp/shakespeare_shards
    python launch.py --config=experiments/shakespeare_char.py:cpu --config.data.shards=/tmp/shakespeare_shards

The corpus is data.path (.txt, .jsonl with data.text_field, .parquet: a file, a directory or a glob) or
data.hf_dataset; the tokenizer data.tokenizer's (for hf: data.tokenizer_path's), or init_from's
(lm/data/prepare.py). A killed preparation, run again, goes on from the units it finished.
"""

import os

from absl import flags

NUM_WORKERS = flags.DEFINE_integer("num_workers", None, "prepare: processes that tokenize (default: the cores)")


def run(config, workdir: str, experiment: str) -> None:
    if not config.data.shards:
        raise ValueError("--mode=prepare writes token shards into data.shards: set --config.data.shards=DIR.")
    prepare_shards(config)


def unprepared(config) -> bool:
    """Whether the run reads token shards that are not (all) written yet."""
    from lm.data import shards

    return bool(config.data.shards) and not os.path.isfile(
        os.path.join(os.path.expanduser(config.data.shards), shards.MANIFEST)
    )


def prepare_shards(config) -> None:
    """config.data's corpus into the token shards of data.shards, in --num_workers processes."""
    import jax  # the launcher has imported it (and joined the processes of a multi-process run)

    from lm import pretrained, validation
    from lm.data import prepare, tokenizers

    validation.validate(config)
    if jax.process_count() > 1:
        raise ValueError(
            f"The shards in data.shards={config.data.shards!r} are prepared by one process, which spreads the work "
            "over --num_workers of its own; here the launcher is one of several. Run --mode=prepare once without "
            "--num_processes / --distributed, then start the run of several processes."
        )
    workers = NUM_WORKERS.value if NUM_WORKERS.value is not None else os.cpu_count() or 1
    if workers < 1:
        raise ValueError(f"--num_workers={workers} must be >= 1.")
    tokenizer = pretrained.load(config.init_from).tokenizer if config.init_from else tokenizers.from_path(config.data)
    prepare.prepare(config.data, os.path.expanduser(config.data.shards), tokenizer, workers)
