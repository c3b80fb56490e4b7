"""The built-in corpus: text from a known word-level Markov chain, so the best possible loss is known.

Each of 25 words (distinct first letters) is followed by 3 or 4 possible next words, or by the end
of a line, with fixed probabilities. A word is rendered as its letters, separated by " ", and a line
ends with ".\\n". Because every character is a deterministic function of the chain's transitions,
the log-probability of a text under the generator splits exactly over its characters:

    " " or "."   carries log P(not end | w) or log P(end | w)
    first letter carries log P(w' | w, not end) (or log P(w' | start of line))
    other chars  carry 0 (they are determined by the first letter)

`optimal_loss` is the mean of those nats over a span: the loss of the true generator, which a model
that reads the previous word reaches; a model that ignores context cannot.
"""

import numpy as np

WORDS = (
    "apple bird cat dog egg fish goat hat ink jam kite lion moon nest owl pig queen rose sun tree urn van wolf yak zoo"
).split()
_END = len(WORDS)  # the end-of-line state; the chain has len(WORDS) + 1 states


def transition_matrix(seed: int = 0) -> np.ndarray:
    """P[a, b]: probability that state a is followed by state b. The end state is never followed by itself."""
    rng = np.random.default_rng(seed)
    n = len(WORDS) + 1
    P = np.zeros((n, n))
    for a in range(n):
        choices = [b for b in range(n) if b != a and not (a == _END and b == _END)]
        successors = rng.choice(choices, size=3 if a == _END else 4, replace=False)
        P[a, successors] = rng.dirichlet(np.ones(len(successors)))
    return P


def generate(num_chars: int, seed: int = 0) -> tuple[str, np.ndarray]:
    """Returns (text, nats): nats[i] is -log P(text[i] | text[:i]) under the generator."""
    P = transition_matrix(seed)
    rng = np.random.default_rng(seed + 1)
    pieces, nats = [], []
    state, length = _END, 0
    while length < num_chars:
        nxt = rng.choice(len(P), p=P[state])
        if nxt == _END:
            chunk, cost = ".\n", [-np.log(P[state, _END]), 0.0]
        else:
            word = WORDS[nxt]
            p_word = P[state, nxt]
            if state == _END:  # start of a line: the first letter carries the whole choice
                chunk, cost = word, [-np.log(p_word)] + [0.0] * (len(word) - 1)
            else:
                p_continue = 1.0 - P[state, _END]
                chunk = " " + word
                cost = [-np.log(p_continue), -np.log(p_word / p_continue)] + [0.0] * (len(word) - 1)
        pieces.append(chunk)
        nats.extend(cost)
        length += len(chunk)
        state = nxt
    return "".join(pieces)[:num_chars], np.asarray(nats[:num_chars], np.float64)
