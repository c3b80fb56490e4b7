"""Pretrained families' blocks, from scratch or from their checkpoints: the Llama family (RMSNorm, SwiGLU,
rotary positions, grouped-query attention, no biases) and GPT-NeoX / Pythia (parallel attention + MLP
residual, rotary on a quarter of each head, exact GELU, untied output embedding).

    python launch.py --config=experiments/families.py:llama --workdir=workdirs/llama_mini
    python launch.py --config=experiments/families.py:pythia --workdir=workdirs/pythia_mini
    python launch.py --config=experiments/families.py:smollm-135m --mode=bench --bench_steps=0   # preflight a size
    python launch.py --config=experiments/families.py:llama --config.init_from=~/models/SmolLM-135M \\
        --config.data.path=../shared/data/tinyshakespeare.txt --workdir=workdirs/smollm_shakespeare
    python launch.py --config=experiments/families.py:pythia --config.init_from=~/models/pythia-70m \\
        --mode=sample --prompt="The meaning of life is" --temperature=0

`llama` and `pythia` are default.py's run (the built-in corpus, 600 steps of 32 x 64 characters) with each
family's blocks at a CPU size. Measured on 2 CPU cores (eval at step 600; default.py's GPT-2-style mini:
0.2783; the generator's optimum 0.247):
  llama   llama-mini (4 layers, 8 query heads sharing 2 key / value heads, d_model 256, tied, 2.83M parameters):
          eval/loss 0.2756, accuracy 0.8745; 3 min 30 s
  pythia  the mini shape (4 layers, 4 heads, d_model 128, 0.80M parameters): eval/loss 0.2788, accuracy
          0.8739; 2 min 19 s

With `init_from`, the checkpoint's own architecture, tokenizer (its tokenizer.json) and weights replace the
size: a Hugging Face directory with config.json, model.safetensors, tokenizer.json and tokenizer_config.json
(e.g. `hf download HuggingFaceTB/SmolLM-135M --local-dir ~/models/SmolLM-135M`).

Arguments: llama, pythia, a Llama-style size (llama-mini, smollm-135m, smollm-360m, qwen2-0.5b,
tinyllama-1.1b) or a Pythia size (pythia-70m, pythia-160m, pythia-410m, pythia-1b) of lm/models/config.py's
table, each with its family's options; smoke (seconds, for the tests).
"""

import os

from lm import experiment
from lm.config import shrink_to_smoke
from lm.experiment import Contract

HERE = os.path.dirname(os.path.abspath(__file__))

LLAMA = dict(position="rotary", norm="rmsnorm", norm_eps=1e-5, mlp="swiglu", use_bias=False)  # tied, as SmolLM
PYTHIA = dict(position="rotary", rotary_fraction=0.25, parallel_residual=True, gelu_approximate=False)
PYTHIA |= dict(tie_embeddings=False)
SIZES = {  # argument -> (size, the family's options)
    "llama": ("llama-mini", LLAMA),
    "pythia": ("mini", PYTHIA),
    **{name: (name, LLAMA) for name in ("llama-mini", "smollm-135m", "smollm-360m")},
    "qwen2-0.5b": ("qwen2-0.5b", LLAMA | dict(qkv_bias=True)),
    "tinyllama-1.1b": ("tinyllama-1.1b", LLAMA | dict(tie_embeddings=False)),
    **{name: (name, PYTHIA) for name in ("pythia-70m", "pythia-160m", "pythia-410m", "pythia-1b")},
    "smoke": ("nano", LLAMA | dict(parallel_residual=True, rotary_fraction=0.5, num_kv_heads=1)),
}


def get_config(arg: str = "llama"):
    if arg not in SIZES:
        raise ValueError(f"experiments/families.py takes one of {', '.join(SIZES)}, not {arg!r}.")
    size, options = SIZES[arg]
    c = experiment.load(os.path.join(HERE, "default.py")).get_config()  # its run, which the contracts compare with
    c.model.size = size
    for key, value in options.items():
        c.model[key] = value
    if arg == "smoke":
        shrink_to_smoke(c)
    return c


SOURCE = "default.py's GPT-2-style mini on the same data: 0.2783 (the generator's optimum 0.247)"
CONTRACTS = {  # --mode=verify (lm/verify.py): each family's blocks learn the built-in corpus as GPT-2's do
    "llama": [
        Contract(metric="eval/loss", target=0.29, bound="at_most", step=600, source=SOURCE,
                 hardware="2 CPU cores", time="3 min 30 s", measured=0.2756),
        Contract(metric="eval/accuracy", target=0.87, bound="at_least", step=600, source=SOURCE,
                 hardware="2 CPU cores", time="3 min 30 s", measured=0.8745),
    ],
    "pythia": [
        Contract(metric="eval/loss", target=0.29, bound="at_most", step=600, source=SOURCE,
                 hardware="2 CPU cores", time="2 min 19 s", measured=0.2788),
        Contract(metric="eval/accuracy", target=0.87, bound="at_least", step=600, source=SOURCE,
                 hardware="2 CPU cores", time="2 min 19 s", measured=0.8739),
    ],
}  # fmt: skip
