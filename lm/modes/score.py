"""--mode=score: the log-likelihood of a text under the workdir's latest checkpoint, token by token.

    python launch.py --config=experiments/shakespeare_char.py:cpu --workdir=/tmp/sc --mode=score \\
        --text="To be, or not to be"
"""

import os

from absl import flags

TEXT = flags.DEFINE_string("text", None, "score: the text whose log-likelihood to compute")
TEXT_FILE = flags.DEFINE_string("text_file", None, "score: a file holding that text")


def run(config, workdir: str, experiment: str) -> None:
    score(config, workdir, read_text(TEXT.value, TEXT_FILE.value))


def score(config, workdir: str, text_to_score: str) -> dict:
    """The latest checkpoint's log-likelihood of `text_to_score`, printed (every token's when there are at
    most 200) and returned."""
    from lm import console
    from lm.decoding import scoring
    from lm.run import prepare

    run = prepare(config, workdir, restore="required", data=False)
    result = scoring.score_text(run.model, run.tokenizer, run.state.params, text_to_score)
    lines = []
    if len(result["tokens"]) <= 200:
        lines.append(f"{'token':>20}  log-prob")
        lines += [f"{piece!r:>20}  {'(no context)' if lp is None else f'{lp:.4f}'}" for piece, lp in result["tokens"]]
    lines.append(
        f"{result['num_scored']} tokens scored | log-likelihood {result['log_likelihood']:.4f} | "
        f"nll/token {result['nll_per_token']:.4f} | perplexity {result['perplexity']:.4f} | "
        f"bits/byte {result['bits_per_byte']:.4f}"
    )
    console.log("\n".join(lines))
    return result


def read_text(text: str | None, path: str | None) -> str:
    """--text, or the contents of --text_file (exactly one of them)."""
    if (text is None) == (path is None):
        raise ValueError("--mode=score needs the text to score: pass exactly one of --text=... or --text_file=FILE.")
    if text is not None:
        return text
    if not os.path.isfile(path):
        raise ValueError(f"--text_file={path} does not exist (or is not a file). Pass the path of a UTF-8 text file.")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError as e:
        raise ValueError(f"--text_file={path} is not UTF-8 text ({e}). Convert it to UTF-8.") from e
