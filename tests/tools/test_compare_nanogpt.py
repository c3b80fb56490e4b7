"""tools/compare_nanogpt.py: what it reads from each command's output, and the commands it runs."""

import json

from tools import compare_nanogpt

NANOGPT_LOG = "step 0: train loss 4.2, val loss 4.2\n" + "".join(
    f"iter {i}: loss 4.1, time {900.0 if i == 0 else 30.0 + i % 3:.2f}ms, mfu -100.00%\n" for i in range(110)
)


def test_step_times_come_from_each_commands_own_report():
    # nanoGPT: the median of iterations 10..109 (30, 31 or 32 ms); its first iteration includes an eval
    assert compare_nanogpt.step_ms("nanoGPT train.py", NANOGPT_LOG) == 31.0
    ours = "data: ...\n" + json.dumps({"step_ms_median": 39.5, "tokens_per_s": 1.0})
    assert compare_nanogpt.step_ms("ours", ours) == 39.5
    tool = "65 characters | ...\nstep 34.87 ms median (min 33.10, max 40.02, 100 steps) | 22,025 tokens/s\n"
    assert compare_nanogpt.step_ms("tools/nanogpt_torch.py", tool) == 34.87


def test_the_three_commands_run_the_same_recipe():
    steps = compare_nanogpt.commands("/n", "/d.txt", whole=False, workdir="/w")
    whole = compare_nanogpt.commands("/n", "/d.txt", whole=True, workdir="/w")
    assert list(steps) == ["nanoGPT train.py", "tools/nanogpt_torch.py", "ours"]
    nanogpt, cwd = steps["nanoGPT train.py"]
    assert cwd == "/n" and {"--n_layer=4", "--n_embd=128", "--block_size=64", "--batch_size=12"} <= set(nanogpt)
    assert "--max_iters=110" in nanogpt and "--max_iters=2000" in whole["nanoGPT train.py"][0]
    assert "--mode=bench" in steps["ours"][0] and "--workdir=/w" in whole["ours"][0]
    assert "--config=experiments/shakespeare_char.py:cpu" in steps["ours"][0]
