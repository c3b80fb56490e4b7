"""BLEU: sacreBLEU's corpus score of the decoded texts, its signature printed once."""

import sacrebleu

from lm.evaluators.bleu import Bleu


class FixedTexts:
    """A decoder stand-in: the same texts for every state."""

    def __init__(self, texts, references):
        self._texts, self.references = texts, references

    def texts(self, state):
        return self._texts


def test_bleu_is_sacrebleus_corpus_score_and_its_signature_is_printed(capsys):
    hypotheses = ["the cat sat on the mat", "a dog ran in the park", "hello world"]
    references = ["the cat sat on the mat", "the dog ran in the park", "hello there world"]
    bleu = Bleu(FixedTexts(hypotheses, references))
    expected = sacrebleu.corpus_bleu(hypotheses, [references]).score
    assert bleu.run(None) == {"bleu": expected} and 0 < expected < 100
    out = capsys.readouterr().out
    assert "bleu: sacreBLEU nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:" in out
    bleu.run(None)
    assert capsys.readouterr().out == ""  # once
    assert abs(Bleu(FixedTexts(references, references)).run(None)["bleu"] - 100.0) < 1e-9
