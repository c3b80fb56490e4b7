"""Byte, char and SentencePiece tokenizers: round trips, saving and loading, their vocabularies."""

import numpy as np
import pytest

from lm.data import tokenizers


@pytest.mark.parametrize("kind", ["byte", "char", "sentencepiece"])
def test_tokenizers_round_trip(kind, tmp_path):
    train = (
        "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 30
        + "naïve café — ünïcödé\n"
    )
    tok = tokenizers.build(kind, train, vocab_size=340)
    for text in ["To be, or not to be", "question:\nWhether", "café — ü"]:
        ids = tok.encode(text)
        assert ids.dtype == np.int32 and ids.max() < tok.vocab_size
        assert tok.decode(ids) == text
    tokenizers.save(tok, str(tmp_path))
    again = tokenizers.load(str(tmp_path))
    np.testing.assert_array_equal(again.encode(train[:200]), tok.encode(train[:200]))
    assert again.vocab_size == tok.vocab_size


def test_sentencepiece_learns_multi_character_pieces():
    train = "the cat sat on the mat with the hat\n" * 200
    tok = tokenizers.build("sentencepiece", train, vocab_size=300)
    assert len(tok.encode("the cat sat")) < len("the cat sat") / 2


def test_char_tokenizer_vocabulary_comes_from_training_text_and_rejects_others():
    tok = tokenizers.build("char", "hello world")
    assert tok.vocab_size == len(set("hello world"))
    with pytest.raises(ValueError, match="outside the character vocabulary.*'xz'"):
        tok.encode("hex z")


def test_only_sentencepiece_has_its_own_file_in_the_workdir_and_fingerprints_differ(tmp_path):
    text = "the cat sat on the mat\n" * 50
    chars, pieces = tokenizers.build("char", text), tokenizers.build("sentencepiece", text, vocab_size=300)
    for tok, name in ((chars, "char"), (pieces, "sentencepiece")):
        (tmp_path / name).mkdir()
        tokenizers.save(tok, str(tmp_path / name))
    assert sorted(p.name for p in (tmp_path / "char").iterdir()) == ["lm_tokenizer.json"]
    assert sorted(p.name for p in (tmp_path / "sentencepiece").iterdir()) == ["lm_tokenizer.json", "tokenizer.model"]
    assert tokenizers.load(str(tmp_path / "sentencepiece")).fingerprint() == pieces.fingerprint()
    assert tokenizers.build("char", text + "#").fingerprint() != chars.fingerprint()
