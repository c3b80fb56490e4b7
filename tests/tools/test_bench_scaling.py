"""tools/bench_scaling.py: one bench process per point, a failed point reported, the largest that fits."""

from tools import bench_scaling


def test_bench_scaling_points_and_the_largest_that_fits():
    figures = bench_scaling.point(0, **bench_scaling.shape("nano", 2, 16, mode="scan + full"))
    assert figures["remat"] == "full" and figures["batch_size"] == 2 and figures["seq_len"] == 16
    assert figures["step_memory_mb"] > 0 and figures["timed_steps"] == 0
    assert bench_scaling.point(0, **{"model.size": "enormous"}) is None  # a failed point, not a crash
    # the search stops at the first candidate that does not fit and reports the one before it
    tried = []
    fits = lambda b: tried.append(b) or ({"b": b} if b * 3 <= 16 else None)  # noqa: E731
    assert bench_scaling.largest(fits, [1, 2, 4, 8, 16]) == (4, {"b": 4})
    assert tried == [1, 2, 4, 8]
    assert bench_scaling.largest(lambda b: None, [1, 2]) == (None, None)


def test_the_context_and_size_tables_draw_every_point_they_measured(tmp_path):
    from matplotlib import image

    def result(**figures):
        return {"step_ms_median": 700.0, "step_memory_mb": 800.0, "tokens_per_s": 2e3, "mfu_measured_peak": 0.2,
                "compile_s": 1.5, "params": 3e6} | figures  # fmt: skip

    context = [(256, result(), result(step_memory_mb=250.0)), (512, None, result(step_memory_mb=340.0))]
    drawn = bench_scaling.plot_context(context, str(tmp_path / "context.png"), "title")
    # step time; memory of the plain step and of scan + remat (the point that failed is left out)
    assert [[list(line.get_xdata()) for line in ax.get_lines()] for ax in drawn.axes] == [[[256]], [[256], [256, 512]]]
    assert list(drawn.axes[1].get_lines()[1].get_ydata()) == [250 / 1024, 340 / 1024]
    size = [("tiny", result(), result(compile_s=2.2)), ("small", result(params=124e6, tokens_per_s=156.0), None)]
    drawn = bench_scaling.plot_size(size, str(tmp_path / "size.png"), "title")
    lines = [[list(line.get_ydata()) for line in ax.get_lines()] for ax in drawn.axes]
    assert lines == [[[2e3, 156.0]], [[1.5, 1.5], [2.2]], [[20.0, 20.0]]]  # tokens/s; compile times; MFU (%)
    for name in ("context", "size"):
        assert image.imread(str(tmp_path / f"{name}.png")).shape[:2] == (400, 1100)  # two panels, 11 x 4 inches
