"""The launcher's modes, a file each: the flags of its own and its `run(config, workdir, experiment)`.
lm/cli.py parses the command line, sets up the process and calls `MODES[--mode].run`.

    train           train.py           train, resuming from the workdir's latest checkpoint (lm/train.py)
    eval            evaluate.py        the evaluators on the latest checkpoint
    sample          sample.py          continuations of prompts; its flags write config.sample in every mode
    score           score.py           the log-likelihood of a text, token by token
    export          export.py          a Hugging Face directory
    harness         harness.py         lm-evaluation-harness tasks (needs requirements-eval.txt)
    prepare         prepare.py         a corpus on disk -> token shards (lm/data/prepare.py)
    bench           bench.py           step time, FLOPs, MFU, memory (lm/bench.py); no workdir
    bench_generate  bench_generate.py  generation speed with and without the KV cache; no workdir
    sweep           sweep.py           every variant of the experiment's get_sweep (lm/sweep.py)
    collate         collate.py         a sweep's table and curves (lm/collate.py)
    compare         compare.py         two workdirs side by side
    verify          verify.py          PASS / FAIL of the experiment's reproduction contracts (lm/verify.py)

A mode file imports no JAX at its top: every mode's flags are defined when the command line is parsed
(`--helpfull` lists them all, `--mode=X --help` those of X), and parsing stays fast and happens before the
process's devices are set up. Its `run` imports what it needs. A mode that also writes config fields from
its flags (sample) has `configure(config)`, which the launcher applies in every mode.

Adding a mode is a file here and one MODES entry.
"""

from lm.modes import (
    bench,
    bench_generate,
    collate,
    compare,
    evaluate,
    export,
    harness,
    prepare,
    sample,
    score,
    sweep,
    train,
    verify,
)

MODES = {
    "train": train,
    "eval": evaluate,
    "sample": sample,
    "score": score,
    "export": export,
    "harness": harness,
    "prepare": prepare,
    "bench": bench,
    "bench_generate": bench_generate,
    "sweep": sweep,
    "collate": collate,
    "compare": compare,
    "verify": verify,
}
