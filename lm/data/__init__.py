"""Data: where examples come from, how text becomes token ids, and what a run keeps of them.

dataset.py        the Dataset protocol: what the loop, the evaluators and the set-up need of a dataset
text.py           plain text (built-in corpus, .txt files, TFDS) -> token windows (causal / masked LM)
labelled.py       labelled examples (CSV / TSV / JSONL, TFDS, built-in tasks) -> padded rows (fine-tuning)
corpus.py         the built-in corpus, text from a known Markov chain with its optimal loss
tfds_source.py    TFDS, offline first: from disk, downloaded only when the network answers
tokenizers.py     byte, char, SentencePiece; saving and loading any tokenizer
hf_tokenizer.py   pretrained Hugging Face tokenizers (GPT-2's BPE, BERT's WordPiece)
cache.py          the workdir's cache of token ids
"""

from lm.data import labelled, pairs, text
from lm.data.dataset import Dataset


def load(config, kind: str, specials: bool, tokenizer=None, workdir: str | None = None) -> Dataset:
    """The dataset of `kind` (an objective's `data`: text, labels or tags) that config.data describes.

    Args:
      config: the run's config (its `data` section says where the examples are).
      kind: text (token windows), labels (one label per text), tags (one label per word) or pairs.
      specials: a byte / char tokenizer learned here gets the special tokens ([CLS], [MASK], ...).
      tokenizer: the tokenizer to use (a workdir's or a pretrained model's); None learns one.
      workdir: a workdir whose files this run reuses (cached token ids, label names); None for none.
    """
    if kind == "text":
        return text.load(config.data, tokenizer, specials, workdir)
    if kind == "pairs":
        return pairs.load(config.data, tokenizer)
    return labelled.load(config.data, tokenizer, tag=kind == "tags", workdir=workdir)
