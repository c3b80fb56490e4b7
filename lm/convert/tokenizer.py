"""Our tokenizers as a Hugging Face directory's tokenizer files, so that transformers' AutoTokenizer,
`lm_eval --model hf` and anything else on the `tokenizers` library load an export whole, with our ids.

    tokenizer.json          the `tokenizers` library's serialization of the whole pipeline
    tokenizer_config.json   transformers' settings: the BOS / EOS / PAD / UNK tokens, the context length

Each of our kinds is one of the library's models, with no rule of its own:
    byte           BPE over the 256 pieces <0x00> .. <0xFF> and no merges: every character falls back to its
                   UTF-8 bytes (SentencePiece's byte fallback), so byte b is id b
    char           BPE over the characters and no merges: one id per character
    symbols        a word-level vocabulary split at whitespace, decoded with a space before each symbol
    sentencepiece  the model's own pieces after SentencePiece's whitespace handling ("▁" starts a word), with
                   byte fallback: unigram with its scores, or BPE with merges ranked by the merged piece's score
                   (transformers' SentencePieceExtractor's rule)
    hf             the tokenizer it came with: its tokenizer.json, or GPT-2's / BERT's vocabulary files

Special tokens keep their ids (after the regular ones for byte / char / symbols, SentencePiece's 0-6). A model
trained without them (a causal run on chars or bytes) has no end-of-text token; tools built on Hugging Face
need one to stand before a text with no context (lm_eval) and to pad, so its files name the newline, where a
line of its training text starts, as EOS and PAD (docs/pretrained.md); generate() is given none
(lm/modes/export.py), so it runs to max_new_tokens as --mode=sample does.
"""

import json
import os

import tokenizers as hf_tokenizers
from sentencepiece import sentencepiece_model_pb2

from lm.data import tokenizers
from lm.data.hf_tokenizer import SPECIAL_NAMES, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE

_UNIGRAM, _BPE = 1, 2  # SentencePiece's TrainerSpec.model_type
_NORMAL = 1  # SentencePiece's ModelProto.SentencePiece.type of a learned piece


def library_tokenizer(tokenizer: tokenizers.Tokenizer) -> hf_tokenizers.Tokenizer:
    """The `tokenizers` library's equivalent of `tokenizer`: the same ids for every text, the same text back."""
    if tokenizer.kind == "hf":
        return tokenizer.tokenizer
    if tokenizer.kind == "sentencepiece":
        return _sentencepiece(tokenizer.model_proto)
    unk = "[UNK]" if "[UNK]" in tokenizer.special_ids else None
    if tokenizer.kind == "byte":
        library = hf_tokenizers.Tokenizer(hf_tokenizers.models.BPE(_byte_pieces(), [], byte_fallback=True))
        library.decoder = hf_tokenizers.decoders.Sequence(
            [hf_tokenizers.decoders.ByteFallback(), hf_tokenizers.decoders.Fuse()]
        )
    elif tokenizer.kind == "char":  # a character outside the vocabulary becomes [UNK], or nothing without one
        vocab = {ch: i for i, ch in enumerate(tokenizer.chars)} | tokenizer.special_ids  # the model's [UNK]
        library = hf_tokenizers.Tokenizer(hf_tokenizers.models.BPE(vocab, [], unk_token=unk))
        library.decoder = hf_tokenizers.decoders.Fuse()
    else:  # symbols
        vocab = {symbol: i for i, symbol in enumerate(tokenizer.symbols)} | tokenizer.special_ids  # [UNK] among them
        library = hf_tokenizers.Tokenizer(hf_tokenizers.models.WordLevel(vocab, unk_token=unk or "[UNK]"))
        library.pre_tokenizer = hf_tokenizers.pre_tokenizers.WhitespaceSplit()
        before_each = hf_tokenizers.decoders.Replace(hf_tokenizers.Regex("^"), " ")
        library.decoder = hf_tokenizers.decoders.Sequence([before_each, hf_tokenizers.decoders.Fuse()])
    _add_specials(library, tokenizer.special_ids)  # appended: ids num_regular .. num_regular + 6
    return library


def save(tokenizer: tokenizers.Tokenizer, directory: str, max_len: int) -> list[str]:
    """Writes tokenizer.json and tokenizer_config.json into `directory`; returns their names.

    A Hugging Face tokenizer that came as vocabulary files (GPT-2's vocab.json + merges.txt, BERT's vocab.txt)
    is written as those instead, which transformers reads with the model type's own tokenizer class.
    """
    if tokenizer.kind == "hf" and not tokenizer.whole_file:
        return tokenizer.save_vocab(directory)
    library = library_tokenizer(tokenizer)
    library.save(os.path.join(directory, TOKENIZER_FILE))
    named = {theirs: library.id_to_token(i) for theirs, i in token_ids(tokenizer).items()}
    settings = {f"{name}_token": token for name, token in named.items()}
    settings |= {
        "tokenizer_class": "PreTrainedTokenizerFast",  # runs tokenizer.json as it is
        "model_max_length": max_len,
        "clean_up_tokenization_spaces": getattr(tokenizer, "clean_up_spaces", False),
    }
    with open(os.path.join(directory, TOKENIZER_CONFIG_FILE), "w") as f:
        json.dump(settings, f, indent=2)
    return [TOKENIZER_FILE, TOKENIZER_CONFIG_FILE]


def token_ids(tokenizer: tokenizers.Tokenizer) -> dict[str, int]:
    """transformers' names ("bos", "eos", "pad", "unk") -> ids, for the tokens tokenizer_config.json names.

    A tokenizer without [EOS] (chars or bytes of a causal run) names the newline as EOS and PAD where it has
    one, else id 0: what stands before a text with no context, and fills a batch's padding.
    """
    ids = tokenizer.special_ids
    ours = {name.removesuffix("_token"): ids[special] for name, special in SPECIAL_NAMES.items() if special in ids}
    if "eos" not in ours:
        newline = tokenizer.kind == "byte" or (tokenizer.kind == "char" and "\n" in tokenizer.chars)
        ours["eos"] = int(tokenizer.encode("\n")[0]) if newline else 0
        ours.setdefault("pad", ours["eos"])
    return ours


def generation_ids(tokenizer: tokenizers.Tokenizer) -> dict[str, int]:
    """generation_config.json's and config.json's bos / eos / pad token ids: only the tokens the model was
    trained with (no EOS for a model without one, so that generate() runs on as --mode=sample does)."""
    pairs = (("bos_token_id", "[BOS]"), ("eos_token_id", "[EOS]"), ("pad_token_id", "[PAD]"))
    return {key: tokenizer.special_ids[special] for key, special in pairs if special in tokenizer.special_ids}


def _byte_pieces() -> dict[str, int]:
    return {f"<0x{b:02X}>": b for b in range(256)}


def _add_specials(library: hf_tokenizers.Tokenizer, special_ids: dict[str, int]) -> None:
    names = sorted(special_ids, key=special_ids.get)
    library.add_special_tokens([hf_tokenizers.AddedToken(name, special=True, normalized=False) for name in names])
    assert all(library.token_to_id(name) == i for name, i in special_ids.items()), "special ids must be kept"


def _sentencepiece(model_proto: bytes) -> hf_tokenizers.Tokenizer:
    """A SentencePiece model as the library runs it (for the settings tokenizers.SentencePieceTokenizer trains
    with: identity normalization, no dummy prefix, split at whitespace, byte fallback)."""
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model_proto)
    assert not proto.normalizer_spec.add_dummy_prefix and proto.trainer_spec.split_by_whitespace, "ours only"
    pieces = [(p.piece, p.score, p.type) for p in proto.pieces]
    vocab = {piece: i for i, (piece, _, _) in enumerate(pieces)}
    if proto.trainer_spec.model_type == _UNIGRAM:
        unk = next(i for i, (_, _, kind) in enumerate(pieces) if kind == 2)  # the UNKNOWN piece
        model = hf_tokenizers.models.Unigram([(piece, score) for piece, score, _ in pieces], unk, byte_fallback=True)
    else:
        assert proto.trainer_spec.model_type == _BPE, proto.trainer_spec.model_type
        model = hf_tokenizers.models.BPE(
            vocab, _merges(pieces, vocab), unk_token=proto.trainer_spec.unk_piece, byte_fallback=True, fuse_unk=True
        )
    library = hf_tokenizers.Tokenizer(model)
    library.pre_tokenizer = hf_tokenizers.pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never")
    library.decoder = hf_tokenizers.decoders.Sequence(
        [
            hf_tokenizers.decoders.Replace("▁", " "),
            hf_tokenizers.decoders.ByteFallback(),
            hf_tokenizers.decoders.Fuse(),
        ]
    )
    _add_specials(
        library, {piece: i for i, (piece, _, kind) in enumerate(pieces) if piece in tokenizers.SPECIAL_TOKENS}
    )
    return library


def _merges(pieces: list[tuple[str, float, int]], vocab: dict[str, int]) -> list[tuple[str, str]]:
    """BPE merges that rebuild SentencePiece's: each learned piece from two learned pieces, the piece of the
    highest score first (SentencePiece merges the adjacent pair whose piece scores highest)."""
    learned = {piece: score for piece, score, kind in pieces if kind == _NORMAL}
    merges = []
    for piece, score in learned.items():
        splits = [(piece[:k], piece[k:]) for k in range(1, len(piece))]
        splits = sorted(
            (s for s in splits if s[0] in learned and s[1] in learned), key=lambda s: (vocab[s[0]], vocab[s[1]])
        )
        merges += [(score, left, right) for left, right in splits]
    merges.sort(key=lambda m: -m[0])  # stable: a piece's splits stay in their order
    return [(left, right) for _, left, right in merges]
