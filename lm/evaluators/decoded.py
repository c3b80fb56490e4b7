"""Evaluators of decoded text: the model writes a target for each eval source, and the texts are scored.

`Decoder` decodes the first config.eval_decode.num_examples pairs of the eval split (all with 0) with the
configured strategy (greedy, or beam search with eval_decode.num_beams), compiled once, and keeps the
texts of the last state it decoded, so that exact match, BLEU and ROUGE at one eval decode once.

With a workdir, each decoding is also written to WORKDIR/eval/step_N/, to be scored by other tools:
decoded.jsonl (source, reference, hypothesis per pair, the texts exactly), and sources.txt, references.txt,
hypotheses.txt, one text a line (a newline inside a text written as a space), which the `sacrebleu` and
rouge-score command lines read:

    sacrebleu WORKDIR/eval/step_3000/references.txt -i WORKDIR/eval/step_3000/hypotheses.txt -tok char
"""

import json
import os

import jax
import numpy as np

from lm import console, workdir_files
from lm.decoding import beam, generate
from lm.decoding.sampling import Options
from lm.decoding.text import decode, pad_right, without_eos


class Decoder:
    """Decoded eval targets of a state, and the references they are scored against."""

    def __init__(self, runner, model, data, batch_size: int, num_examples: int, num_beams: int, alpha: float,
                 max_new_tokens: int, workdir: str | None = None):  # fmt: skip
        self.runner, self.model, self.data, self.workdir = runner, model, data, workdir
        sources, references = data.eval_pairs()
        count = len(sources) if num_examples == 0 else min(num_examples, len(sources))
        self.sources, self.references = sources[:count], references[:count]
        self.width = max(len(s) for s in self.sources)  # every batch padded to it: one compilation
        self.batch_size, self.num_beams, self.alpha = batch_size, num_beams, alpha
        specials = data.tokenizer.special_ids
        self.pad, self.bos, self.eos = specials["[PAD]"], specials["[BOS]"], specials["[EOS]"]
        if num_beams > 1:
            self._fn = beam.compile_beam_search(model, num_beams, max_new_tokens, self.eos)
        else:
            self._fn = generate.compile_generate(model, max_new_tokens, self.eos)
        self._last = (None, None)
        self._source_texts = None

    def texts(self, state) -> list[str]:
        """The decoded target of every chosen eval source (greedy or the best beam), EOS and after cut."""
        step = int(np.asarray(state.step).reshape(-1)[0])
        if self._last[0] == step:
            return self._last[1]
        params = self.runner.get_state(state).params
        texts = []
        starts = range(0, len(self.sources), self.batch_size)
        for start in console.progress(starts, f"decoding {len(self.sources)} eval sources"):
            rows = self.sources[start : start + self.batch_size]
            rows = rows + [rows[-1]] * (self.batch_size - len(rows))  # one shape: one compilation
            source, source_valid = pad_right(rows, self.pad, self.width)
            prompt = np.full((len(rows), 1), self.bos, np.int32)
            valid = np.ones_like(prompt, bool)
            if self.num_beams > 1:
                tokens, _, lengths = self._fn(params, prompt, valid, self.alpha, source, source_valid)
                tokens, lengths = np.asarray(tokens)[:, 0], np.asarray(lengths)[:, 0]
            else:
                greedy = Options(temperature=0.0)
                out = self._fn(params, prompt, valid, jax.random.PRNGKey(0), greedy, source, source_valid)
                tokens, lengths = map(np.asarray, out)
            real = len(self.sources) - start  # the rows that are not padding of the last batch
            for row, n in zip(tokens[:real], lengths[:real], strict=True):
                texts.append(decode(self.data.tokenizer, without_eos(row, n, self.eos)))
        self._last = (step, texts)
        if self.workdir is not None and jax.process_index() == 0:
            self.write(os.path.join(self.workdir, OUTPUTS, f"step_{step}"), texts)
        return texts

    def write(self, directory: str, texts: list[str]) -> None:
        """The decoded pairs of one eval as files in `directory` (the module's docstring)."""
        if self._source_texts is None:  # the same sources at every eval
            self._source_texts = [decode(self.data.tokenizer, s) for s in self.sources]
        sources = self._source_texts
        os.makedirs(directory, exist_ok=True)
        records = [
            json.dumps({"source": s, "reference": r, "hypothesis": h}, ensure_ascii=False) + "\n"
            for s, r, h in zip(sources, self.references, texts, strict=True)
        ]
        workdir_files.write_atomically(os.path.join(directory, "decoded.jsonl"), "".join(records))
        for name, lines in (("sources", sources), ("references", self.references), ("hypotheses", texts)):
            one_a_line = "".join(" ".join(t.splitlines()) + "\n" for t in lines)
            workdir_files.write_atomically(os.path.join(directory, f"{name}.txt"), one_a_line)


OUTPUTS = "eval"  # under the workdir: eval/step_N/ of each decoded eval


class DecodedEvaluator:
    """An evaluator of the texts the run's Decoder writes for the eval sources (sequence pairs only)."""

    reads = ("pairs",)
    needs, lacks = "scores targets decoded from sources", "has none of"
    fix = "Use it with objective=seq2seq, or leave evals empty."

    def __init__(self, decoder: Decoder):
        self.decoder = decoder

    @classmethod
    def build(cls, config, runner, objective, data, decoder):
        return cls(decoder)


class ExactMatch(DecodedEvaluator):
    """The fraction of decoded targets equal to their reference, character for character."""

    def run(self, state) -> dict[str, float]:
        texts = self.decoder.texts(state)
        return {"exact_match": float(np.mean([t == r for t, r in zip(texts, self.decoder.references, strict=True)]))}
