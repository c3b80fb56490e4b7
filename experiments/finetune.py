"""Fine-tuning a pretrained encoder (or decoder) for sequence classification.

Config arguments:
  speakers  offline: which of two speakers, PETRUCHIO or PROSPERO, says a speech of held-out tiny
            Shakespeare (lm/labelled.py; 146 train / 48 eval speeches, text no pretraining run saw).
            Initialise from a bert_mlm.py:tiny workdir with --config.init_from.
            --config.data.speakers= --config.data.num_speakers=4 asks instead for the 4 most
            frequent speakers of the held-out text, all from one play (a much harder task).
  sst2      TFDS glue/sst2 (sentence -> positive / negative); needs the dataset on disk or a network.
  imdb      TFDS imdb_reviews (train / test).
  smoke     seconds on a CPU (tests); give it an init_from and a labelled file.

The pretrained-beats-scratch contract (2 CPU cores): pretrain once, then verify, which fine-tunes from the
pretrained weights and from scratch (`finetune.load_weights=False`: the same architecture and tokenizer,
random weights) on seeds 0, 1, 2, and checks that pretraining wins on every seed:

    python launch.py --config=experiments/bert_mlm.py:tiny --workdir=workdirs/mlm_tiny \\
        --config.data.path=../shared/data/tinyshakespeare.txt
    python launch.py --config=experiments/finetune.py:speakers --mode=verify --workdir=workdirs/speakers \\
        --config.init_from=workdirs/mlm_tiny --config.data.path=../shared/data/tinyshakespeare.txt

The six runs land in workdirs/speakers/finetune.load_weights=...,seed=.../ (`--mode=sweep` trains the same
ones; `--mode=collate --metric=eval/accuracy` tabulates them). What verify printed (2026-11-30, 7 min 4 s
for the six runs), eval at step 300 on the 48 held-out speeches, seeds 0 / 1 / 2:
  pretrained  accuracy 0.854 / 0.813 / 0.792   macro-F1 0.820 / 0.778 / 0.722
  scratch     accuracy 0.771 / 0.750 / 0.729   macro-F1 0.738 / 0.719 / 0.649
Pretraining wins on every seed, by 6.9 points of accuracy (8.3 / 6.3 / 6.3) and 7.1 of macro-F1 (8.2 /
5.9 / 7.4) on average (always answering PETRUCHIO scores 0.69 accuracy, 0.41 macro-F1). These are the
contract's own output; the per-seed numbers published before it existed differed for seed 1 pretrained
(0.750 / 0.719) and seeds 0 and 1 scratch, which `--config.seed=N` does not give. On the 4 most frequent speakers of the
held-out text (all from The Taming of the Shrew) both stay near the majority class: accuracy 0.35
pretrained vs 0.39 scratch, macro-F1 0.30 vs 0.20 (means of 3 seeds; not a contract).
"""

from lm import experiment
from lm.config import default_config, shrink_to_smoke
from lm.experiment import Contract


def get_config(arg: str = "speakers") -> "ml_collections.ConfigDict":  # noqa: F821
    c = default_config()
    c.objective = "classify"
    c.model.dropout = c.model.attention_dropout = 0.1
    c.data.seq_len = 128
    c.data.batch_size = 16
    c.train.eval_batch_size = 32
    c.optim.learning_rate = 3e-4
    c.optim.min_learning_rate = 3e-5
    c.optim.warmup_steps = 30
    c.optim.weight_decay = 0.01
    c.optim.b2 = 0.999
    c.train.num_steps = 300
    c.train.log_every = 50
    c.train.eval_every = 100
    c.train.checkpoint_every = 300
    if arg == "speakers":
        c.data.task = "shakespeare_speakers"
        c.data.tfds_name = "tiny_shakespeare"
        c.data.speakers = "PETRUCHIO,PROSPERO"  # The Taming of the Shrew vs The Tempest
        c.data.eval_fraction = 0.25
        c.model.pooling = "mean"  # the char-level MLM never trains a [CLS] summary; every position it does
    elif arg == "sst2":
        c.data.tfds_name = "glue/sst2"
        c.data.text_field = "sentence"
        c.data.eval_split = "validation"
        c.train.num_steps = 2000
    elif arg == "imdb":
        c.data.tfds_name = "imdb_reviews"
        c.data.eval_split = "test"
        c.data.seq_len = 256
        c.train.num_steps = 2000
    elif arg == "smoke":
        shrink_to_smoke(c)
    else:
        raise ValueError(f"experiments/finetune.py takes speakers, sst2, imdb or smoke, not {arg!r}.")
    return c


def get_sweep(arg: str = "speakers") -> list[dict]:
    """Pretrained and scratch, seeds 0-2: the runs of the speakers contract (and of --mode=collate)."""
    del arg
    return experiment.grid({"finetune.load_weights": [True, False]}, seeds=[0, 1, 2])


PRETRAINED, SCRATCH = {"finetune.load_weights": True}, {"finetune.load_weights": False}
SOURCE = "Devlin et al. (2019): pretraining helps fine-tuning (issue 3's result, every seed)"
CONTRACTS = {  # --mode=verify (lm/verify.py); needs --config.init_from=workdirs/mlm_tiny (bert_mlm.py:tiny)
    "speakers": [  # at least one more of the 48 eval speeches right (0.0208), and F1 ahead, on every seed
        Contract(
            metric=metric, target=0.02, bound="at_least", step=300, overrides=PRETRAINED, baseline=SCRATCH,
            seeds=(0, 1, 2), source=SOURCE, hardware="2 CPU cores", time="7 min 4 s, both", measured=measured,
        )
        for metric, measured in (("eval/accuracy", 0.0625), ("eval/macro_f1", 0.0589))
    ],
}  # fmt: skip
