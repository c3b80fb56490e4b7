"""Text in, text out: prompts, samples, stop strings and the errors a user can make (lm/decoding/text.py)."""

import numpy as np
import pytest

from lm.data import tokenizers
from lm.data.hf_tokenizer import HFTokenizer
from lm.decoding.text import continuation, decode, generate_text
from lm.run import prepare


def test_generate_text_batches_prompts_and_cuts_at_stop_strings(tiny_config, tmp_path):
    run = prepare(tiny_config, str(tmp_path))
    sample = tiny_config.sample.copy_and_resolve_references()
    sample.max_new_tokens, sample.num_samples, sample.temperature = 10, 2, 1.0
    texts = generate_text(run.model, run.tokenizer, run.state.params, sample, ["cat", "a dog"])
    assert len(texts) == 4
    assert texts[0].startswith("cat") and texts[2].startswith("a dog")
    assert len(texts[0]) == 3 + 10 and len(texts[3]) == 5 + 10
    stop = texts[0][5]  # a character the first sample generates
    sample.stop = (stop,)
    cut = generate_text(run.model, run.tokenizer, run.state.params, sample, ["cat", "a dog"])
    assert cut[0] == texts[0][: texts[0].index(stop, 3)]
    assert all(stop not in t[len(p) :] for t, p in zip(cut, ["cat", "cat", "a dog", "a dog"], strict=True))


def test_prompt_errors(tiny_config, tmp_path):
    run = prepare(tiny_config, str(tmp_path))
    sample = tiny_config.sample.copy_and_resolve_references()
    sample.prompt = "cat ©"
    with pytest.raises(ValueError, match="outside the character vocabulary"):
        generate_text(run.model, run.tokenizer, run.state.params, sample)
    sample.prompt, sample.max_new_tokens = "cat", 14
    with pytest.raises(ValueError, match="longer than the model's context of 16 tokens.*at most 13"):
        generate_text(run.model, run.tokenizer, run.state.params, sample)
    sample.prompt = ""
    with pytest.raises(ValueError, match="empty"):
        generate_text(run.model, run.tokenizer, run.state.params, sample)
    sample.prompt, sample.max_new_tokens = "cat", 13
    texts = generate_text(run.model, run.tokenizer, run.state.params, sample)
    assert len(texts) == sample.num_samples and all(t.startswith("cat") and len(t) == 16 for t in texts)


def test_sampling_an_encoder_is_refused(tiny_config, tmp_path):
    tiny_config.objective = "masked"
    run = prepare(tiny_config, str(tmp_path))
    with pytest.raises(ValueError, match="needs a causal model"):
        generate_text(run.model, run.tokenizer, run.state.params, tiny_config.sample)


def test_beam_search_returns_the_best_beams_of_each_prompt_best_first(tiny_config, tmp_path):
    run = prepare(tiny_config, str(tmp_path))
    sample = tiny_config.sample.copy_and_resolve_references()
    sample.max_new_tokens, sample.num_samples, sample.num_beams = 6, 2, 3
    texts = generate_text(run.model, run.tokenizer, run.state.params, sample, ["cat", "a dog"])
    assert len(texts) == 4 and texts[0].startswith("cat") and texts[2].startswith("a dog")
    assert texts[0] != texts[1]  # two different beams
    sample.num_beams, sample.temperature, sample.num_samples = 1, 0.0, 1
    greedy = generate_text(run.model, run.tokenizer, run.state.params, sample, ["cat"])
    sample.num_beams = 2  # the best of 2 beams is at least as likely as greedy's; here a test of wiring only
    assert len(generate_text(run.model, run.tokenizer, run.state.params, sample, ["cat"])) == len(greedy) == 1


def test_ids_past_the_vocabulary_decode_as_t5_sentinels():
    tokenizer = tokenizers.build("byte", "", specials=True)  # 256 bytes and the special tokens
    V = tokenizer.vocab_size
    ids = [*tokenizer.encode("ab"), V + 1, *tokenizer.encode("é"), V, V + 2]
    assert decode(tokenizer, ids) == "ab<extra_id_1>é<extra_id_0><extra_id_2>"
    assert decode(tokenizer, tokenizer.encode("plain")) == "plain"


def test_a_continuation_keeps_the_space_that_sentencepiece_writes_only_inside_a_text(hf_llama_dir):
    tok = HFTokenizer.from_directory(hf_llama_dir)
    assert tok.prompt_prefix == [tok.special_ids["[BOS]"]]  # Llama's template starts every text with <s>
    prompt, full = tok.prompt_prefix + tok.encode("the cat").tolist(), tok.encode("the cat saw").tolist()
    new = np.asarray(full[len(prompt) - 1 :])  # full lacks <s>
    assert tok.decode(new) == "saw"  # alone, the decoder drops the leading "▁"
    assert continuation(tok, np.asarray(prompt), new) == " saw"


def test_gpt2_prompts_get_no_prefix(hf_gpt2_dir):
    assert HFTokenizer.from_directory(hf_gpt2_dir).prompt_prefix == []
