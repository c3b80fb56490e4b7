"""T5 in: imported v1.0 (ReLU, tied head scaled by d_model**-0.5, 3 decoder over 2 encoder layers) and v1.1
(gated-gelu, untied unscaled head, heads of their own width) give transformers' logits on padded sources and
its greedy generations; the relative position buckets are transformers'; what we do not read is refused; a T5
directory with its tokenizer.json samples as transformers does and fine-tunes through the launcher's paths."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lm import convert, evaluators, train
from lm.convert import t5
from lm.data.hf_tokenizer import HFTokenizer
from lm.decoding import generate, sampling
from lm.decoding.text import pad_right
from lm.models import encoder_decoder
from lm.models.config import ModelConfig
from lm.models.encoder_decoder import EncoderDecoder
from lm.models.positions import relative_position_bucket
from lm.modes import sample
from lm.run import make_evaluators, prepare
from tests.convert.references import VOCAB, padded
from tests.test_experiments import ROOT, load_experiment

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

VERSIONS = ("t5_dir", "t5_v1_1_dir")


@pytest.mark.parametrize("directory", VERSIONS)
@pytest.mark.parametrize("left", [False, True])
def test_imported_t5_matches_transformers_logits_on_padded_sources(directory, left, request):
    directory, reference = request.getfixturevalue(directory)
    fields, params = t5.read(directory)
    source, source_valid = padded(1, (22, 13, 6), 22, left)
    target = np.random.default_rng(2).integers(0, VOCAB, (3, 17))  # the decoder's input, from its start token 0
    target[:, 0] = 0
    ours = EncoderDecoder(ModelConfig(**fields)).apply(
        {"params": params}, jnp.asarray(target), source=jnp.asarray(source), source_valid=jnp.asarray(source_valid)
    )
    with torch.no_grad():
        theirs = reference(
            input_ids=torch.from_numpy(source),
            attention_mask=torch.from_numpy(source_valid).long(),
            decoder_input_ids=torch.from_numpy(target),
        ).logits.numpy()
    np.testing.assert_allclose(np.asarray(ours), theirs, atol=1e-4)


def test_the_readers_fields_are_each_versions_options(t5_dir, t5_v1_1_dir):
    v1_0, v1_1 = t5.read(t5_dir[0])[0], t5.read(t5_v1_1_dir[0])[0]
    assert v1_0["mlp"] == "relu" and v1_0["tie_embeddings"] and v1_0["scale_head_input"]
    assert (v1_0["num_encoder_layers"], v1_0["num_layers"], v1_0["head_dim"]) == (2, 3, 8)
    assert (v1_0["relative_attention_num_buckets"], v1_0["relative_attention_max_distance"]) == (8, 12)
    assert v1_1["mlp"] == "geglu" and v1_1["gelu_approximate"] and not v1_1["tie_embeddings"]
    assert not v1_1["scale_head_input"] and (v1_1["num_heads"], v1_1["head_dim"], v1_1["d_model"]) == (3, 16, 32)
    assert v1_0["position"] == "relative" and not v1_0["attention_scale"] and v1_0["norm"] == "rmsnorm"
    assert convert.read_model(t5_dir[0])[0] == v1_0  # registered by model_type


def test_the_kv_caches_hold_heads_of_d_kv_dims(t5_v1_1_dir):
    (layer, *_) = encoder_decoder.init_cache(ModelConfig(**t5.read(t5_v1_1_dir[0])[0]), 1, 16, source_len=9)
    assert layer["k"].shape == (1, 16, 3, 16) and layer["cross_k"].shape == (1, 9, 3, 16)


def generate_both(fields, params, reference, sources, max_new_tokens):
    """Greedy targets for right-padded sources, every target starting at token 0 (T5's decoder_start_token_id):
    ours (lm/decoding/generate.py) and transformers' generate, [B, max_new_tokens] each."""
    model = EncoderDecoder(ModelConfig(**fields))
    source, source_valid = pad_right([np.asarray(s) for s in sources], pad_id=0)
    start, start_valid = generate.pad_left([np.zeros(1, np.int32)] * len(sources))
    run = generate.compile_generate(model, max_new_tokens)
    options = sampling.Options(temperature=0.0)
    ours, _ = run(params, start, start_valid, jax.random.PRNGKey(0), options, source, source_valid)
    with torch.no_grad():
        theirs = reference.generate(
            torch.from_numpy(source).long(),
            attention_mask=torch.from_numpy(source_valid).long(),
            max_new_tokens=max_new_tokens,
            min_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=0,
            # transformers 5.23's T5 cache has an IndexError with more decoder than encoder layers: recompute
            use_cache=False,
        )[:, 1:].numpy()  # less the start token
    return np.asarray(ours), theirs


@pytest.mark.parametrize("directory", VERSIONS)
def test_greedy_generation_equals_transformers_generate(directory, request):
    """Sources of different lengths; 20 new tokens pass the decoder's exact buckets (8 of 8, or 16 of 32)."""
    directory, reference = request.getfixturevalue(directory)
    sources = [[5, 6, 7, 8, 9, 10, 11, 12, 13, 14], [3, 1, 4], [40, 41, 42, 43, 44, 45]]
    ours, theirs = generate_both(*t5.read(directory), reference, sources, 20)
    np.testing.assert_array_equal(ours, theirs)
    assert len({tuple(row) for row in ours}) > 1  # the sources make a difference


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("num_buckets, max_distance", [(32, 128), (8, 12), (8, 8), (6, 9)])
def test_relative_position_buckets_equal_transformers(bidirectional, num_buckets, max_distance):
    relative = np.arange(-300, 301)
    theirs = transformers.models.t5.modeling_t5.T5Attention._relative_position_bucket(
        torch.from_numpy(relative), bidirectional=bidirectional, num_buckets=num_buckets, max_distance=max_distance
    ).numpy()
    ours = relative_position_bucket(jnp.asarray(relative), bidirectional, num_buckets, max_distance)
    np.testing.assert_array_equal(np.asarray(ours), theirs)


def test_rmsnorm_is_t5s_layer_norm():
    from lm.models.layers import Norm

    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype(np.float32) * 3
    reference = transformers.models.t5.modeling_t5.T5LayerNorm(8, eps=1e-6)
    with torch.no_grad():
        reference.weight.add_(torch.randn(8))
        theirs = reference(torch.from_numpy(x)).numpy()
    params = {"norm": {"scale": jnp.asarray(reference.weight.detach().numpy())}}
    ours = Norm(kind="rmsnorm", eps=1e-6).apply({"params": params}, jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(ours), theirs, atol=1e-5)


def test_a_config_written_by_transformers_5_keeps_its_scale_decoder_outputs(t5_dir, tmp_path):
    """transformers 5 writes tie_word_embeddings true and scale_decoder_outputs (false for a v1.1 it built)."""
    directory = t5_dir[0]
    hf = json.loads(open(f"{directory}/config.json").read()) | {"scale_decoder_outputs": False}
    (tmp_path / "config.json").write_text(json.dumps(hf))
    (tmp_path / "model.safetensors").symlink_to(f"{directory}/model.safetensors")
    fields = t5.read(str(tmp_path))[0]
    assert fields["tie_embeddings"] and not fields["scale_head_input"]


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(feed_forward_proj="gated-relu"), "feed_forward_proj='gated-relu'"),
        (dict(is_decoder=True), "decoder-only T5 stack"),
        (dict(tie_word_embeddings=False), "tie_word_embeddings=false .* no lm_head.weight"),
        (dict(num_layers=3), "has no tensor 'encoder.block.2"),
        (dict(model_type="mt5"), "model_type 'mt5'"),
    ],
)
def test_what_we_do_not_read_is_refused_by_name(t5_dir, tmp_path, change, message):
    directory = t5_dir[0]
    hf = json.loads(open(f"{directory}/config.json").read()) | change
    (tmp_path / "config.json").write_text(json.dumps(hf))
    (tmp_path / "model.safetensors").symlink_to(f"{directory}/model.safetensors")
    with pytest.raises(ValueError, match=message):
        convert.read_model(str(tmp_path))


def test_exports_refuse_t5s_options(tmp_path, t5_v1_1_dir):
    fields = t5.read(t5_v1_1_dir[0])[0] | dict(family="transformer", position="learned", mlp="gelu")
    with pytest.raises(ValueError, match="head_dim=16 .*attention_scale=False"):
        convert.write_model(str(tmp_path), fields, params={})


def test_a_t5_tokenizer_json_gives_transformers_ids_and_starts_the_decoder_at_pad(hf_t5_dir):
    """T5's SentencePiece Unigram tokenizer.json: our ids are AutoTokenizer's (less the </s> it appends to a
    text), and [BOS], where our targets start, is config.json's decoder_start_token_id (<pad>, 0)."""
    ours = HFTokenizer.from_directory(hf_t5_dir)
    theirs = transformers.AutoTokenizer.from_pretrained(hf_t5_dir)
    assert ours.special_ids == {"[PAD]": 0, "[EOS]": 1, "[UNK]": 2, "[BOS]": 0}
    for text in ["the cat saw a dog", "  spaced   out ", "zebra 123 x", "Hello, World!"]:
        ids = theirs(text).input_ids
        assert ids[-1] == 1 and ours.encode(text).tolist() == ids[:-1]
        assert ours.decode(ours.encode(text)) == theirs.decode(ids[:-1])  # <unk> kept in the text, as theirs


def t5_task_config(init_from):
    c = load_experiment(os.path.join(ROOT, "experiments", "seq2seq_tasks.py")).get_config("smoke")
    c.init_from = init_from
    c.data.source_len = c.data.seq_len = 16  # the Unigram pieces of 6 letters, and [BOS] / [EOS]
    c.sample.max_new_tokens, c.sample.num_samples, c.sample.temperature = 8, 1, 0.0
    return c


def test_a_t5_directory_samples_as_transformers_then_fine_tunes_on_pairs(hf_t5_dir, tmp_path):
    """Greedy samples of a T5 directory (init_from) equal transformers' generate from the same source ids; its
    eval loss on the pairs is transformers' loss; 20 steps of seq2seq fine-tuning lower it."""
    config = t5_task_config(hf_t5_dir)
    prompts = ["abc", "zebra"]
    texts = sample.sample(config, str(tmp_path / "empty"), prompts)
    model = transformers.T5ForConditionalGeneration.from_pretrained(hf_t5_dir).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(hf_t5_dir)
    ours = HFTokenizer.from_directory(hf_t5_dir)
    for prompt, text in zip(prompts, texts, strict=True):
        ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids  # our source: no </s>
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=8, do_sample=False, eos_token_id=None, pad_token_id=0)
        new = out[0, 1:].tolist()  # after the start token
        assert text == ours.decode(new[: new.index(1)] if 1 in new else new)  # ours stop at </s>

    workdir = str(tmp_path / "run")
    start = prepare(config, workdir)
    assert start.config.model.position == "relative" and start.config.model.head_dim == 16
    pretrained_loss = evaluators.run(make_evaluators(start), start.runner.put_state(start.state))["loss"]
    nll = count = 0.0
    for batch in start.data.eval_batches(config.train.eval_batch_size, config.data.seq_len):
        tensors = {k: torch.from_numpy(np.asarray(v)).long() for k, v in batch.items()}
        with torch.no_grad():
            logits = model(
                input_ids=tensors["source"],
                attention_mask=tensors["source_valid"],
                decoder_input_ids=tensors["inputs"],
                decoder_attention_mask=tensors["valid"],
            ).logits
        losses = torch.nn.functional.cross_entropy(logits.flatten(0, 1), tensors["targets"].flatten(), reduction="none")
        nll += float((losses * torch.from_numpy(batch["weights"]).flatten()).sum())
        count += float(batch["weights"].sum())
    np.testing.assert_allclose(pretrained_loss, nll / count, rtol=1e-4)
    config.train.num_steps, config.optim.learning_rate = 20, 3e-3
    final = train.train(config, workdir)
    assert final["eval/loss"] < pretrained_loss - 0.1
