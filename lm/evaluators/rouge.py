"""ROUGE-1, ROUGE-2 and ROUGE-L of the decoded eval targets against their references, by Google's rouge-score
(F-measure with the Porter stemmer, averaged over the examples, x 100: what summarisation papers report)."""

import numpy as np
from rouge_score import rouge_scorer

from lm.evaluators.decoded import DecodedEvaluator, Decoder

TYPES = ("rouge1", "rouge2", "rougeL")


class Rouge(DecodedEvaluator):
    def __init__(self, decoder: Decoder):
        super().__init__(decoder)
        self.scorer = rouge_scorer.RougeScorer(list(TYPES), use_stemmer=True)

    def run(self, state) -> dict[str, float]:
        texts = self.decoder.texts(state)
        scores = [self.scorer.score(ref, text) for text, ref in zip(texts, self.decoder.references, strict=True)]
        return {name: 100 * float(np.mean([s[name].fmeasure for s in scores])) for name in TYPES}
