"""init_from a pretraining workdir of ours: what is restored, what is new, what is frozen; the errors.
(Hugging Face directories through the same paths: tests/convert/test_pretrained_directories.py.)"""

import json
import os
import shutil
import time

import jax
import numpy as np
import pytest
from flax import traverse_util

from lm import checkpoint, objectives, train
from lm.data import tokenizers
from lm.data.hf_tokenizer import HFTokenizer
from lm.models.transformer import HEAD_MODULES
from lm.run import prepare
from tests import launcher

SMOKE = f"--config={launcher.ROOT}/experiments/default.py:smoke"


def labelled_csv(tmp_path):
    path = tmp_path / "labels.csv"
    words = ["cat dog", "dog cat", "owl pig", "pig owl", "sun tree", "tree sun"]
    path.write_text("text,label\n" + "".join(f"{words[i % 6]},{'ab'[i % 6 // 3]}\n" for i in range(48)))
    return str(path)


def finetune_config(base, init_from, csv):
    c = base.copy_and_resolve_references()
    c.objective = "classify"
    c.init_from = init_from
    c.data.path = csv
    c.model.size = "tiny"  # differs from the pretrained nano: the architecture must come from init_from
    return c


def pretrain_masked(tiny_config, tmp_path) -> str:
    workdir = str(tmp_path / "pre")
    c = tiny_config.copy_and_resolve_references()
    c.objective = "masked"
    train.train(c, workdir)
    return workdir


@pytest.fixture(params=["masked", "causal"])
def pretraining_workdir(request, tiny_config, tmp_path):
    c = tiny_config.copy_and_resolve_references()
    c.objective = request.param
    workdir = str(tmp_path / f"pretrain_{request.param}")
    train.train(c, workdir)
    return request.param, workdir


def test_init_from_restores_every_encoder_weight_and_only_the_head_is_new(pretraining_workdir, tiny_config, tmp_path):
    objective, workdir = pretraining_workdir
    run = prepare(finetune_config(tiny_config, workdir, labelled_csv(tmp_path)), str(tmp_path / "ft"))
    assert run.config.model.size == "nano" and run.config.model.causal == (objective == "causal")
    assert run.config.model.pooling == ("last" if objective == "causal" else "first")
    saved = traverse_util.flatten_dict(checkpoint.Checkpointer(workdir, read_only=True).restore_params())
    ours = traverse_util.flatten_dict(jax.device_get(run.state.params))
    heads = {p for p in ours if p[0] in HEAD_MODULES}
    assert {p[0] for p in heads} == {"pooler", "classifier"}
    for path, value in ours.items():
        if path in heads:
            assert path not in saved
        else:
            np.testing.assert_array_equal(value, saved[path], err_msg="/".join(path))
    assert run.data.tokenizer.vocab_size == run.config.model.vocab_size


def test_scratch_run_takes_architecture_and_tokenizer_but_not_weights(tiny_config, tmp_path):
    workdir = pretrain_masked(tiny_config, tmp_path)
    ft = finetune_config(tiny_config, workdir, labelled_csv(tmp_path))
    ft.finetune.load_weights = False
    run = prepare(ft, str(tmp_path / "scratch"))
    saved = checkpoint.Checkpointer(workdir, read_only=True).restore_params()
    assert run.config.model.num_layers == 2
    assert not np.array_equal(
        jax.device_get(run.state.params["block_0"]["mlp"]["up"]["kernel"]), saved["block_0"]["mlp"]["up"]["kernel"]
    )


def test_incompatible_checkpoint_is_a_clear_error(tiny_config, tmp_path):
    workdir = pretrain_masked(tiny_config, tmp_path)
    with open(os.path.join(workdir, "config.json")) as f:
        saved = json.load(f)
    saved["model"]["d_ff"] = 64  # the config now disagrees with the checkpoint's arrays
    with open(os.path.join(workdir, "config.json"), "w") as f:
        json.dump(saved, f)
    with pytest.raises(ValueError, match="does not fit this model.*shape"):
        prepare(finetune_config(tiny_config, workdir, labelled_csv(tmp_path)), str(tmp_path / "ft"))
    with pytest.raises(ValueError, match="neither a workdir.*nor a Hugging Face"):
        prepare(finetune_config(tiny_config, str(tmp_path / "nowhere"), labelled_csv(tmp_path)), str(tmp_path / "x"))


def test_frozen_encoder_trains_only_the_head(tiny_config, tmp_path):
    workdir = pretrain_masked(tiny_config, tmp_path)
    ft = finetune_config(tiny_config, workdir, labelled_csv(tmp_path))
    ft.finetune.freeze_encoder = True
    ft.optim.warmup_steps = 0
    final = train.train(ft, str(tmp_path / "ft"))
    trained = traverse_util.flatten_dict(checkpoint.Checkpointer(str(tmp_path / "ft"), read_only=True).restore_params())
    before = traverse_util.flatten_dict(checkpoint.Checkpointer(workdir, read_only=True).restore_params())
    fresh = traverse_util.flatten_dict(jax.device_get(prepare(ft, str(tmp_path / "fresh")).state.params))
    for path, value in trained.items():
        if path[0] in HEAD_MODULES:
            assert not np.allclose(value, fresh[path])  # the head moved
        else:
            np.testing.assert_array_equal(value, before[path])  # the encoder did not
    assert {"eval/accuracy", "eval/macro_f1", "eval/f1/a", "eval/f1/b"} <= set(final)


def test_the_objective_must_fit_the_pretrained_attention(tiny_config, tmp_path):
    workdir = pretrain_masked(tiny_config, tmp_path)
    causal = tiny_config.copy_and_resolve_references()
    causal.init_from = workdir
    with pytest.raises(ValueError, match="is a bidirectional model \\(an encoder\\).*one of masked, classify, tag"):
        prepare(causal, str(tmp_path / "causal"))


def test_span_corruption_pretraining_initialises_a_seq2seq_finetune(tiny_config, tmp_path):
    """experiments/t5_denoise.py's path: an encoder-decoder pretrained on span corruption, every weight of it
    (sentinel rows included) the start of a seq2seq fine-tune; nothing is new, since the head is the same."""
    pre = tiny_config.copy_and_resolve_references()
    pre.objective, pre.model.family, pre.data.tokenizer = "span_corruption", "encoder_decoder", "byte"
    workdir = str(tmp_path / "pre")
    train.train(pre, workdir)

    ft = tiny_config.copy_and_resolve_references()
    ft.objective, ft.init_from, ft.model.size = "seq2seq", workdir, "tiny"  # the architecture comes from init_from
    ft.data.task, ft.data.task_examples, ft.data.task_max_len = "reverse", 200, 6
    ft.data.source_len = ft.data.seq_len = 8
    ft.eval_decode.num_examples = 4
    run = prepare(ft, str(tmp_path / "ft"))
    assert (run.config.model.family, run.config.model.size) == ("encoder_decoder", "nano")
    saved = traverse_util.flatten_dict(checkpoint.Checkpointer(workdir, read_only=True).restore_params())
    ours = traverse_util.flatten_dict(jax.device_get(run.state.params))
    assert ours.keys() == saved.keys()
    for path, value in ours.items():
        np.testing.assert_array_equal(value, saved[path], err_msg="/".join(path))
    sentinels = objectives.span_counts(pre.data.seq_len, 0.15, 3.0)[1]
    assert run.config.model.vocab_size == run.data.tokenizer.vocab_size + sentinels  # their rows came along
    final = train.train(ft, str(tmp_path / "ft"))
    assert {"eval/loss", "eval/exact_match", "eval/bleu"} <= set(final)


def test_a_hugging_face_tokenizer_by_path_trains_from_scratch_and_stays_with_its_workdir(tiny_config, tmp_path):
    """data.tokenizer_path: GPT-2's kind of tokenizer without a pretrained model; the workdir keeps it, and a
    resumed run given another one is refused."""
    from tokenizers import ByteLevelBPETokenizer

    from lm.data import corpus

    for name, size in (("bpe", 300), ("other", 280)):
        bpe = ByteLevelBPETokenizer()
        bpe.train_from_iterator([corpus.generate(20_000)[0]], vocab_size=size, show_progress=False)
        (tmp_path / name).mkdir()
        bpe.save_model(str(tmp_path / name))
    c = tiny_config.copy_and_resolve_references()
    c.data.tokenizer, c.data.tokenizer_path, c.train.num_steps = "hf", str(tmp_path / "bpe"), 2
    workdir = str(tmp_path / "run")
    train.train(c, workdir)
    expected = HFTokenizer.from_directory(str(tmp_path / "bpe"))
    assert tokenizers.load(workdir).fingerprint() == expected.fingerprint()
    assert prepare(c, workdir).config.model.vocab_size >= expected.vocab_size == 301  # with <|endoftext|>
    c.data.tokenizer_path = str(tmp_path / "other")
    with pytest.raises(ValueError, match="another tokenizer than the one in data.tokenizer_path"):
        prepare(c, workdir)


def test_init_from_a_hub_name_reads_the_hubs_cache_and_a_name_it_cannot_fetch_stops_in_seconds(hf_gpt2_dir, tmp_path):
    """init_from=org/name[@revision] through huggingface_hub: a snapshot in the Hub's cache layout
    (HF_HUB_CACHE/models--org--name/snapshots/COMMIT, refs/REVISION) read offline by the launcher, with the
    directory's own greedy text; a name not cached stops offline in seconds with one paragraph."""
    cache, commit = tmp_path / "hub", "0123456789abcdef0123456789abcdef01234567"
    snapshot = cache / "models--tiny-org--gpt2" / "snapshots" / commit
    shutil.copytree(hf_gpt2_dir, snapshot)
    (cache / "models--tiny-org--gpt2" / "refs").mkdir()
    for revision in ("main", "v1"):
        (cache / "models--tiny-org--gpt2" / "refs" / revision).write_text(commit)
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    greedy = ["--mode=sample", "--prompt=cat dog", "--temperature=0", "--num_samples=1", "--max_new_tokens=6"]
    texts = {}
    for init_from in (hf_gpt2_dir, "tiny-org/gpt2@v1"):  # a revision, read through refs/v1
        args = [SMOKE, f"--config.init_from={init_from}", f"--workdir={tmp_path}/none", *greedy]
        sampled = launcher.launch(*args, cwd=tmp_path, env=env, timeout=300)
        assert sampled.returncode == 0, sampled.stderr[-3000:]
        texts[init_from] = sampled.stdout.split("--- sample 1 ---")[1]
    assert len(set(texts.values())) == 1
    started = time.monotonic()
    missing = launcher.launch(SMOKE, "--config.init_from=tiny-org/nope", f"--workdir={tmp_path}/none", *greedy,
                              cwd=tmp_path, env=env, timeout=300)  # fmt: skip
    assert time.monotonic() - started < 30 and missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert "the Hugging Face Hub's model 'tiny-org/nope' (revision main) could not be fetched" in missing.stderr
    assert not (tmp_path / "none").exists()
