"""The built-in corpus: its per-character nats are the generator's log-probabilities."""

import numpy as np

from lm.data import corpus


def test_builtin_corpus_nats_are_the_generators_log_probabilities():
    text, nats = corpus.generate(3000)
    P = corpus.transition_matrix()
    words = {w: i for i, w in enumerate(corpus.WORDS)}
    end = len(corpus.WORDS)
    # Recompute the text's log-probability from its words: sum over transitions of -log P.
    lines = text.split(".\n")
    total, state = 0.0, end
    for line in lines[:-1]:  # complete lines only
        for word in line.split(" "):
            total += -np.log(P[state, words[word]])
            state = words[word]
        total += -np.log(P[state, end])
        state = end
    covered = len(".\n".join(lines[:-1])) + 2
    np.testing.assert_allclose(nats[:covered].sum(), total, rtol=1e-9)
    assert text == corpus.generate(3000)[0]  # deterministic
