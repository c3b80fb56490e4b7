"""BLEU of the decoded eval targets against their references, by sacreBLEU (corpus BLEU; its default 13a
tokenization unless config.eval_decode.bleu_tokenize says otherwise): the score people report, with the
signature that says how it was computed."""

import sacrebleu

from lm import console
from lm.evaluators.decoded import DecodedEvaluator, Decoder


class Bleu(DecodedEvaluator):
    def __init__(self, decoder: Decoder, tokenize: str = "13a"):
        super().__init__(decoder)
        self.metric = sacrebleu.BLEU(tokenize=tokenize)  # "char" for the built-in tasks: one word each
        self._signed = False

    @classmethod
    def build(cls, config, runner, objective, data, decoder):
        return cls(decoder, config.eval_decode.bleu_tokenize)

    def run(self, state) -> dict[str, float]:
        texts = self.decoder.texts(state)
        score = self.metric.corpus_score(texts, [self.decoder.references])
        if not self._signed:  # the signature is known once a score is (it counts the references)
            console.log(f"bleu: sacreBLEU {self.metric.get_signature()}")
            self._signed = True
        return {"bleu": float(score.score)}
