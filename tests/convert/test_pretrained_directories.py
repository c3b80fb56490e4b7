"""A Hugging Face GPT-2 / BERT directory as init_from, through the launcher's paths: sample, score, continue
training, eval, export; each against transformers (PyTorch CPU) on a tiny model with its own tokenizer files."""

import os

import numpy as np
import pytest
import safetensors.numpy

from lm import evaluators, train
from lm.data.hf_tokenizer import HFTokenizer
from lm.modes import export, sample, score
from lm.run import make_evaluators, prepare
from tests.test_experiments import ROOT, launch, load_experiment

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def gpt2_config(init_from, scan_layers=False):
    c = load_experiment(os.path.join(ROOT, "experiments", "gpt2.py")).get_config("smoke")
    c.init_from = init_from
    c.model.scan_layers = scan_layers
    c.sample.temperature = 0.0
    c.sample.max_new_tokens = 12
    c.sample.num_samples = 1
    return c


def reference(directory):
    model = transformers.GPT2LMHeadModel.from_pretrained(directory).eval()
    return model, transformers.GPT2TokenizerFast.from_pretrained(directory)


@pytest.mark.parametrize("scan_layers", [False, True])
def test_greedy_samples_of_a_pretrained_directory_equal_transformers(hf_gpt2_dir, tmp_path, scan_layers):
    config = gpt2_config(hf_gpt2_dir, scan_layers)
    prompts = ["the cat", "a dog saw the"]
    texts = sample.sample(config, str(tmp_path / "empty"), prompts)  # no checkpoint: init_from's weights
    model, tokenizer = reference(hf_gpt2_dir)
    for prompt, text in zip(prompts, texts, strict=True):
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.eos_token_id)
        expected = tokenizer.decode(out[0, ids.shape[1] :])
        assert text == prompt + expected.split("<|endoftext|>")[0]
    assert not os.path.exists(tmp_path / "empty")  # sampling writes nothing


def test_score_equals_transformers_loss(hf_gpt2_dir, tmp_path):
    text = "the cat saw a dog and the dog ran away from the cat"
    result = score.score(gpt2_config(hf_gpt2_dir), str(tmp_path), text)
    model, tokenizer = reference(hf_gpt2_dir)
    ids = torch.tensor([[tokenizer.bos_token_id, *tokenizer(text).input_ids]])  # <|endoftext|> first, as ours
    with torch.no_grad():
        loss = float(model(ids, labels=ids).loss)
    assert result["num_scored"] == ids.shape[1] - 1
    np.testing.assert_allclose(result["nll_per_token"], loss, rtol=1e-5)
    np.testing.assert_allclose(result["perplexity"], np.exp(loss), rtol=1e-5)
    assert "".join(piece for piece, _ in result["tokens"]) == text


@pytest.mark.parametrize("scan_layers", [False, True])  # stacked layer weights import and export alike
def test_continue_training_then_export_loads_in_transformers(hf_gpt2_dir, tmp_path, scan_layers):
    config = gpt2_config(hf_gpt2_dir, scan_layers)
    workdir = str(tmp_path / "run")
    start = prepare(config, workdir)
    pretrained_loss = evaluators.run(make_evaluators(start), start.runner.put_state(start.state))["loss"]
    # The eval loss of the imported weights is transformers' loss on the same windows.
    model, _ = reference(hf_gpt2_dir)
    nll = count = 0.0
    for batch in start.data.eval_batches(config.train.eval_batch_size, config.data.seq_len):
        with torch.no_grad():
            logits = model(torch.from_numpy(batch["inputs"]).long()).logits
        losses = torch.nn.functional.cross_entropy(
            logits.flatten(0, 1), torch.from_numpy(batch["targets"]).long().flatten(), reduction="none"
        )
        nll += float((losses * torch.from_numpy(batch["weights"]).flatten()).sum())
        count += float(batch["weights"].sum())
    np.testing.assert_allclose(pretrained_loss, nll / count, rtol=1e-4)

    config.train.num_steps = 20
    config.optim.learning_rate = 3e-3
    final = train.train(config, workdir)
    assert final["eval/loss"] < pretrained_loss - 0.1  # it learned from the pretrained start
    out = str(tmp_path / "exported")
    export.export(config, workdir, out)
    assert sorted(os.listdir(out)) == [
        "config.json",
        "generation_config.json",
        "merges.txt",
        "model.safetensors",
        "vocab.json",
    ]
    exported, exported_tokenizer = reference(out)
    ids = exported_tokenizer("the cat saw a dog", return_tensors="pt").input_ids
    run = prepare(config, workdir, restore="required", data=False)
    ours = run.model.apply({"params": run.state.params}, ids.numpy())
    with torch.no_grad():
        np.testing.assert_allclose(np.asarray(ours), exported(ids).logits.numpy(), atol=1e-4)


def test_launcher_samples_a_batch_of_prompts_with_stop_strings(hf_gpt2_dir, tmp_path):
    args = [
        f"--config={ROOT}/experiments/gpt2.py:smoke",
        f"--config.init_from={hf_gpt2_dir}",
        "--mode=sample",
        "--prompt=the cat",
        "--prompt=a dog saw the",
        "--num_samples=2",
        "--max_new_tokens=10",
        "--stop=.",
    ]
    result = launch(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    samples = result.stdout.split("--- sample ")[1:]
    assert len(samples) == 4 and "init_from" in result.stdout
    for i, printed in enumerate(samples):
        text = printed.split("---\n", 1)[1]
        prompt = "the cat" if i < 2 else "a dog saw the"
        assert text.startswith(prompt) and "." not in text[len(prompt) :]
    scored = launch(*args[:2], "--mode=score", cwd=tmp_path)
    assert scored.returncode == 1 and "exactly one of --text" in scored.stderr
    wrong = launch(*args[:1], "--config.objective=masked", f"--config.init_from={hf_gpt2_dir}", cwd=tmp_path)
    assert wrong.returncode == 1 and "is a causal model (a decoder)" in wrong.stderr


@pytest.mark.parametrize("objective", ["masked", "classify"])
def test_a_bert_directory_continues_masked_pretraining_or_fine_tunes(hf_bert_dir, tiny_config, tmp_path, objective):
    config = tiny_config
    config.init_from, config.objective = hf_bert_dir, objective
    if objective == "classify":
        rows = "".join(f"{'the cat saw a dog'[i % 5 :]},{i % 2}\n" for i in range(40))
        (tmp_path / "labelled.csv").write_text("text,label\n" + rows)
        config.data.path = str(tmp_path / "labelled.csv")
    run = prepare(config, str(tmp_path / "run"))
    assert run.config.model.norm_position == "post" and run.tokenizer.kind == "hf"
    imported = transformers.BertForPreTraining.from_pretrained(hf_bert_dir)
    embeddings = imported.bert.embeddings.word_embeddings.weight.detach().numpy()
    np.testing.assert_array_equal(np.asarray(run.state.params["embed"]["embedding"]), embeddings)
    if objective == "classify":  # BERT's pretrained pooler, as transformers' BertForSequenceClassification
        pooler = imported.bert.pooler.dense.weight.detach().numpy().T
        np.testing.assert_array_equal(np.asarray(run.state.params["pooler"]["kernel"]), pooler)
    final = train.train(config, str(tmp_path / "run"))
    assert np.isfinite(final["eval/loss"])


def llama_config(init_from):
    c = load_experiment(os.path.join(ROOT, "experiments", "families.py")).get_config("smoke")
    c.init_from = init_from
    c.sample.temperature = 0.0
    c.sample.max_new_tokens = 12
    c.sample.num_samples = 1
    return c


def test_a_pythia_directory_samples_as_transformers_trains_and_is_not_exported(hf_neox_dir, tmp_path):
    config = llama_config(hf_neox_dir)
    (text,) = sample.sample(config, str(tmp_path / "empty"), ["the cat"])
    model = transformers.GPTNeoXForCausalLM.from_pretrained(hf_neox_dir).eval()
    ids = transformers.AutoTokenizer.from_pretrained(hf_neox_dir)("the cat", return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=2, eos_token_id=None)
    assert text == HFTokenizer.from_directory(hf_neox_dir).decode(out[0, 1:].tolist())
    workdir = str(tmp_path / "run")
    start = prepare(config, workdir)
    assert start.config.model.parallel_residual and start.config.model.rotary_fraction == 0.25
    pretrained_loss = evaluators.run(make_evaluators(start), start.runner.put_state(start.state))["loss"]
    config.train.num_steps, config.optim.learning_rate = 20, 3e-3
    assert train.train(config, workdir)["eval/loss"] < pretrained_loss - 0.1
    with pytest.raises(ValueError, match="Not GPT-2, as it has .*Not Llama, as it has .*parallel_residual=True"):
        export.export(config, workdir, str(tmp_path / "exported"))


def test_a_llama_directory_samples_as_transformers_then_trains_and_exports(hf_llama_dir, tmp_path):
    """Greedy samples equal transformers' generate; 20 steps of continued training lower the eval loss;
    the export (Llama files, tokenizer.json) loads in transformers with our logits and tokens."""
    config = llama_config(hf_llama_dir)
    prompts = ["the cat", "a dog saw the"]
    texts = sample.sample(config, str(tmp_path / "empty"), prompts)
    model = transformers.LlamaForCausalLM.from_pretrained(hf_llama_dir).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(hf_llama_dir)
    ours = HFTokenizer.from_directory(hf_llama_dir)
    for prompt, text in zip(prompts, texts, strict=True):
        ids = tokenizer(prompt, return_tensors="pt").input_ids  # <s> first, as our sampler puts [BOS]
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=2, eos_token_id=None)
        assert text == ours.decode(out[0, 1:].tolist())  # equal ids after <s>: one decoding for both

    imported = str(tmp_path / "imported")  # exported from the command line without training: its own weights
    args = [
        f"--config.init_from={hf_llama_dir}",
        f"--workdir={tmp_path / 'fresh'}",
        "--mode=export",
        f"--out={imported}",
    ]
    result = launch(f"--config={ROOT}/experiments/families.py:smoke", *args, cwd=tmp_path)
    assert result.returncode == 0 and f"exported {hf_llama_dir}'s weights" in result.stdout, result.stderr
    original, again = (
        safetensors.numpy.load_file(os.path.join(d, "model.safetensors")) for d in (hf_llama_dir, imported)
    )
    assert sorted(original) == sorted(again) and all(np.array_equal(original[k], again[k]) for k in original)

    workdir = str(tmp_path / "run")
    start = prepare(config, workdir)
    assert start.config.model.num_kv_heads == 2 and start.tokenizer.kind == "hf"
    pretrained_loss = evaluators.run(make_evaluators(start), start.runner.put_state(start.state))["loss"]
    config.train.num_steps, config.optim.learning_rate = 20, 3e-3
    final = train.train(config, workdir)
    assert final["eval/loss"] < pretrained_loss - 0.1

    out = str(tmp_path / "exported")
    export.export(config, workdir, out)
    files = ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    assert sorted(os.listdir(out)) == files
    exported = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    exported_tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    ids = exported_tokenizer("the cat saw a dog", return_tensors="pt").input_ids
    assert ids.tolist() == tokenizer("the cat saw a dog", return_tensors="pt").input_ids.tolist()
    run = prepare(config, workdir, restore="required", data=False)
    ours = run.model.apply({"params": run.state.params}, ids.numpy())
    with torch.no_grad():
        np.testing.assert_allclose(np.asarray(ours), exported(ids).logits.numpy(), atol=1e-4)
