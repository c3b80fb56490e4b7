"""--mode=eval: the evaluators on the workdir's latest checkpoint (or init_from's weights).

    python launch.py --config=experiments/shakespeare_char.py:cpu --workdir=/tmp/sc --mode=eval

The whole eval split, through the evaluators config.evals names (or the objective's own).
"""


def run(config, workdir: str, experiment: str) -> None:
    evaluate(config, workdir)


def evaluate(config, workdir: str) -> dict[str, float]:
    """The eval metrics of the latest checkpoint of `workdir`, printed and returned."""
    from lm import console, evaluators
    from lm.run import describe, make_evaluators, prepare

    run = prepare(config, workdir, restore="required")
    run.data.save(workdir)  # the token ids, so that the next launch skips tokenizing
    console.log(describe(run))
    results = evaluators.run(make_evaluators(run), run.runner.put_state(run.state))
    lines = [f"eval of the checkpoint at step {int(run.state.step)}:"]
    lines += [f"  eval/{k}: {v:.6g}" for k, v in results.items() if not isinstance(v, list)]
    if run.data.optimal_loss is not None:
        lines.append(f"  optimal loss (the generator's own): {run.data.optimal_loss:.6g}")
    console.log("\n".join(lines))
    return results
