"""Our causal models as an lm-evaluation-harness model (lm_eval 0.4), registered as `lm-jax`.

    python launch.py --config=... --workdir=W --mode=harness --tasks=heldout_continuation   (lm/modes/harness.py)
    lm_eval.simple_evaluate(model="lm-jax", model_args="path=W_OR_HF_DIR", tasks=[...])  (after importing this)

The three request types compute what the harness's own `hf` model (HFLM) computes, so that the numbers are
equal on the same weights (tests/evaluators/test_harness.py checks it against HFLM): `loglikelihood` scores
the continuation after its context, the pair left-truncated to the model's context (max_len + 1 tokens, the
last one only a target); `loglikelihood_rolling` sums those over the disjoint windows of
lm_eval.utils.get_rolling_token_windows; `generate_until` decodes with lm/decoding/generate.py (greedy, or
the request's temperature / top_k / top_p / repetition_penalty) and cuts the text at the first `until` string.

lm_eval is an optional install (requirements-eval.txt): only this module and lm/evaluators/harness_task.py
import it, and `import lm` never does.
"""

import jax
import numpy as np
from lm_eval import utils as harness_utils
from lm_eval.api.model import TemplateLM
from lm_eval.api.registry import register_model
from lm_eval.models.utils import handle_stop_sequences, normalize_gen_kwargs, postprocess_generated_text
from tqdm import tqdm

from lm import pretrained
from lm.decoding import generate, text
from lm.decoding.sampling import Options
from lm.decoding.scoring import token_scores
from lm.models import families
from lm.models.config import ModelConfig
from lm.models.layout import count_params

SAMPLING_KWARGS = ("temperature", "top_k", "top_p", "repetition_penalty")  # Options' fields


def load(path: str) -> tuple:
    """(model, params, tokenizer) of a workdir of ours (its latest checkpoint) or a Hugging Face directory."""
    source = pretrained.load(path)
    fields = {name: value for name, value in source.model.items() if name in ModelConfig.__dataclass_fields__}
    model = families.build(ModelConfig(**fields))
    return model, source.load_params(), source.tokenizer


@register_model("lm-jax")
class HarnessLM(TemplateLM):
    """A causal model of ours, its parameters and tokenizer, answering the harness's requests.

    Args:
      path: a workdir of ours or a Hugging Face model directory (what `--model_args path=...` names);
        or else pass model, params and tokenizer (the launcher's mode does, from its prepared run).
      batch_size: rows per compiled call (the harness passes it as a string from its command line).
      max_gen_toks: generate_until's length when a request does not set one (capped at half the context).
      seed: of sampled generations (a request with temperature > 0).
      **unused: device, max_batch_size and the like, which the harness passes to every model; JAX places
        the arrays itself.
    """

    def __init__(
        self, path=None, model=None, params=None, tokenizer=None, batch_size=16, max_gen_toks=256, seed=0, **unused
    ):
        super().__init__()
        if (path is None) == (model is None):
            raise ValueError("HarnessLM takes either path=DIR (a workdir or a Hugging Face directory) or a model.")
        if path is not None:
            model, params, tokenizer = load(path)
        if families.of(model).sourced:
            raise ValueError(
                f"This is a {model.config.family} model (it writes a target from a source); the harness adapter "
                "scores and continues text with causal decoder-only models. Evaluate it with --mode=eval (BLEU, "
                "ROUGE, exact match) instead."
            )
        text.check_causal(model, "The harness scores text")
        if str(batch_size).startswith("auto"):
            raise ValueError("batch_size=auto is not supported by lm-jax: pass a number, e.g. batch_size=16.")
        self.model, self.tokenizer = model, tokenizer
        self.params = jax.device_put(params)
        self.batch_size, self.seed = int(batch_size), seed
        self.max_length = model.config.max_len
        self.max_gen_toks = min(int(max_gen_toks), self.max_length // 2)

    def get_model_info(self) -> dict:
        """What the harness records of the model in its results (config)."""
        c = self.model.config
        return {"model_num_parameters": count_params(self.params), "model_dtype": c.dtype, "max_length": c.max_len}

    @property
    def eot_token_id(self) -> int | None:
        return self.tokenizer.special_ids.get("[EOS]")

    @property
    def prefix_token_id(self) -> int | None:
        """What stands before a text with no context: [BOS], else [EOS] (as HFLM); None for tokenizers with
        neither (byte and char ones without special tokens)."""
        ids = self.tokenizer.special_ids
        return ids.get("[BOS]", ids.get("[EOS]"))

    def tok_encode(self, string: str, add_special_tokens=None, **kwargs) -> list[int]:
        del add_special_tokens, kwargs  # our tokenizers never add special tokens (GPT-2's does not either)
        try:
            return [int(i) for i in self.tokenizer.encode(string)]
        except ValueError as e:
            raise ValueError(f"A harness request's text cannot be encoded with the model's tokenizer: {e}") from e

    def tok_decode(self, ids) -> str:
        return self.tokenizer.decode(ids)

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        if self.prefix_token_id is None and any(context == "" for context, _ in (r.args for r in requests)):
            raise ValueError(
                f"A request has an empty context, which the harness fills with a [BOS] / [EOS] token; this "
                f"{self.tokenizer.kind} tokenizer has none. Use a task whose requests have a context, or train with "
                "a tokenizer that has special tokens."
            )
        return super().loglikelihood(requests, disable_tqdm)

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, **kwargs) -> list[tuple[float, bool]]:
        """(log p(continuation | context), whether greedy decoding gives the continuation) per request.

        Args:
          requests: (cache key, context ids, continuation ids) triples.
        """
        L = self.max_length
        rows = []
        for _, context, continuation in requests:
            if not 0 < len(continuation) <= L:
                raise ValueError(
                    f"A harness continuation has {len(continuation)} tokens; it needs 1 to {L} (the model's context)."
                )
            rows.append((context + continuation)[-(L + 1) :])  # left-truncated, as HFLM does
        results = [None] * len(rows)
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))  # similar lengths share a batch
        for start in tqdm(range(0, len(order), self.batch_size), disable=disable_tqdm, desc="loglikelihood"):
            batch = order[start : start + self.batch_size]
            width = bucket(max(len(rows[i]) for i in batch) - 1, L)
            inputs, targets = np.zeros((2, self.batch_size, width), np.int32)
            valid = np.zeros((self.batch_size, width), bool)
            for row, i in enumerate(batch):
                n = len(rows[i]) - 1
                inputs[row, :n], targets[row, :n], valid[row, :n] = rows[i][:-1], rows[i][1:], True
            log_probs, greedy = map(np.asarray, token_scores(self.params, inputs, targets, valid, model=self.model))
            for row, i in enumerate(batch):
                n, c = len(rows[i]) - 1, len(requests[i][2])  # the continuation's targets: the last c of n
                results[i] = (
                    float(log_probs[row, n - c : n].astype(np.float64).sum()),
                    bool(greedy[row, n - c : n].all()),
                )
                if requests[i][0] is not None:  # rolling windows have no key of their own
                    self.cache_hook.add_partial("loglikelihood", requests[i][0], results[i])
        return results

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        """Each document's log-likelihood over HFLM's windows: every token scored once, given up to max_len - 1
        tokens before it (the first given the prefix token; without one, the first token is not scored)."""
        windows, owners = [], []
        for i, (string,) in enumerate(r.args for r in requests):
            ids, prefix = self.tok_encode(string), self.prefix_token_id
            if prefix is None and ids:  # no token stands for "no context": the first token becomes the context
                prefix, ids = ids[0], ids[1:]
            pairs = harness_utils.get_rolling_token_windows(ids, prefix, max_seq_len=self.max_length, context_len=1)
            for context, continuation in map(harness_utils.make_disjoint_window, pairs):
                windows.append((None, context, continuation))
                owners.append(i)
        totals = np.zeros(len(requests))
        for i, (log_prob, _) in zip(owners, self._loglikelihood_tokens(windows, disable_tqdm), strict=True):
            totals[i] += log_prob
        for request, total in zip(requests, totals, strict=True):
            self.cache_hook.add_partial("loglikelihood_rolling", request.args, float(total))
        return [float(t) for t in totals]

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Continuations of each context, cut at the first of its `until` strings (and at EOS), batched by
        generation settings."""
        groups = {}
        for i, (_, gen_kwargs) in enumerate(r.args for r in requests):
            groups.setdefault(repr(sorted(gen_kwargs.items())), []).append(i)
        out = [None] * len(requests)
        for indices in groups.values():
            for start in tqdm(range(0, len(indices), self.batch_size), disable=disable_tqdm, desc="generate_until"):
                batch = indices[start : start + self.batch_size]
                contexts = [requests[i].args[0] for i in batch]
                texts = self._generate(contexts, requests[batch[0]].args[1], start)
                for i, context, generated in zip(batch, contexts, texts, strict=True):
                    out[i] = generated
                    self.cache_hook.add_partial("generate_until", (context, requests[i].args[1]), generated)
        return out

    def _generate(self, contexts: list[str], gen_kwargs: dict, batch_number: int) -> list[str]:
        """One batch of generate_until: the contexts left-truncated to leave room for max_gen_toks."""
        kwargs = dict(normalize_gen_kwargs(gen_kwargs, self.max_gen_toks))
        eos = self.eot_token_id
        until = handle_stop_sequences(kwargs.pop("until", None), None if eos is None else self.tok_decode([eos]))
        max_new = kwargs.pop("max_gen_toks")
        kwargs.pop("do_sample")  # normalize_gen_kwargs has set temperature 0 where it is False
        kwargs.setdefault("temperature", 0.0)  # greedy unless the request asks for a temperature (HFLM's default)
        unknown = sorted(set(kwargs) - set(SAMPLING_KWARGS))
        if unknown:
            raise ValueError(
                f"The task's generation_kwargs {unknown} are not supported by lm-jax, which takes until, max_gen_toks, "
                f"do_sample and {', '.join(SAMPLING_KWARGS)}. Remove them from the task's generation_kwargs."
            )
        room = self.max_length - max_new  # for the context
        if room < 1:
            raise ValueError(
                f"max_gen_toks={max_new} leaves no room for a context in the model's {self.max_length} tokens. Set "
                f"the task's generation_kwargs max_gen_toks below {self.max_length}."
            )
        prompts = []
        for context in contexts:
            ids = self.tok_encode(context)[-room:]
            if not ids and self.prefix_token_id is None:
                raise ValueError(
                    f"A generate_until request has an empty context, and this {self.tokenizer.kind} tokenizer no [BOS] "
                    "token to start from. Use a task whose prompts have text."
                )
            prompts.append(np.asarray(ids or [self.prefix_token_id], np.int32))
        prompts += [prompts[-1]] * (self.batch_size - len(prompts))  # one compiled shape per prompt bucket
        tokens, valid = generate.pad_left(prompts)
        pad = bucket(tokens.shape[1], room) - tokens.shape[1]
        tokens, valid = np.pad(tokens, ((0, 0), (pad, 0))), np.pad(valid, ((0, 0), (pad, 0)))
        options = Options(**{k: kwargs.get(k, getattr(Options(), k)) for k in SAMPLING_KWARGS})
        rng = jax.random.fold_in(jax.random.PRNGKey(self.seed), batch_number)
        fn = generate.compile_generate(self.model, max_new, eos)
        generated, lengths = map(np.asarray, fn(self.params, tokens, valid, rng, options))
        return [
            postprocess_generated_text(self.tok_decode(text.without_eos(row, n, eos)), until, None)
            for row, n in zip(generated[: len(contexts)], lengths[: len(contexts)], strict=True)
        ]


def bucket(length: int, limit: int) -> int:
    """The padded length for `length` tokens: the next power of two (at least 16), at most `limit`, so that a
    few compiled shapes serve every request."""
    return min(max(16, 1 << (max(length, 1) - 1).bit_length()), limit)
