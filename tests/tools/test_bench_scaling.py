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
