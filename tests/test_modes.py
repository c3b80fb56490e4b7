"""The launcher's modes on a trained workdir: eval, sample, score, export, bench_generate (harness:
tests/evaluators/test_harness.py)."""

import numpy as np
import pytest

from lm import checkpoint, train
from lm.convert import gpt2
from lm.modes import bench_generate, evaluate, export, harness, sample, score


@pytest.fixture
def workdir(tiny_config, tmp_path):
    path = str(tmp_path / "run")
    train.train(tiny_config, path)
    return path


def test_eval_reports_what_training_reported_at_its_last_step(tiny_config, workdir, capsys):
    trained = train.train(tiny_config, workdir)  # already at the last step: evaluates the checkpoint again
    capsys.readouterr()
    results = evaluate.evaluate(tiny_config, workdir)
    out = capsys.readouterr().out
    assert "eval of the checkpoint at step 4:" in out and "optimal loss (the generator's own)" in out
    assert {f"eval/{k}": v for k, v in results.items()} == pytest.approx(trained)


def test_sample_and_score_read_the_checkpoint(tiny_config, workdir, capsys):
    tiny_config.sample.temperature = 0.0
    texts = sample.sample(tiny_config, workdir, ["cat", "dog"])
    assert len(texts) == 4 and texts[0] == texts[1] and texts[2].startswith("dog")
    assert capsys.readouterr().out.count("--- sample") == 4
    result = score.score(tiny_config, workdir, "cat dog owl")
    out = capsys.readouterr().out
    assert "(no context)" in out and f"{result['num_scored']} tokens scored" in out


def test_export_writes_gpt2_files_that_read_back_as_the_checkpoint(tiny_config, workdir, tmp_path, capsys):
    out = str(tmp_path / "hf")
    export.export(tiny_config, workdir, out)
    assert "exported step 4" in capsys.readouterr().out
    fields, params = gpt2.read(out)
    assert (fields["num_layers"], fields["d_model"]) == (2, 32)
    saved = checkpoint.Checkpointer(workdir, read_only=True).restore_params()
    np.testing.assert_array_equal(params["block_1"]["mlp"]["up"]["kernel"], saved["block_1"]["mlp"]["up"]["kernel"])


def test_bench_generate_times_both_paths_from_the_config_alone(tiny_config, tmp_path, capsys):
    summary = bench_generate.bench_generate(tiny_config, batch_sizes=[1, 2], prompt_len=3, new_tokens=4, repeats=1)
    assert [(r["batch_size"], r["cache"]) for r in summary["results"]] == [(1, True), (1, False), (2, True), (2, False)]
    assert all(r["tokens_per_s"] > 0 for r in summary["results"]) and summary["params"] == 26_880
    assert "the KV cache is" in capsys.readouterr().out
    with pytest.raises(ValueError, match="longer than the model's context of 16 tokens"):
        bench_generate.bench_generate(tiny_config, batch_sizes=[1], prompt_len=8, new_tokens=9)


@pytest.mark.parametrize(
    "tasks, options, needle",
    [([], {}, "needs --tasks"), (["t"], {"limit": 0}, "--limit=0 above 0"), (["t"], {"num_fewshot": -1}, "=-1 must")],
)
def test_harness_refuses_bad_options_before_reading_anything(tiny_config, tmp_path, tasks, options, needle):
    with pytest.raises(ValueError, match=needle):
        harness.harness(tiny_config, str(tmp_path / "none"), tasks, **options)
    assert not (tmp_path / "none").exists()
