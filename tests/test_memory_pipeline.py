"""The fold-level DRAM pipeline recurrence equals an event simulation of the same hardware in SimPy."""

import numpy as np
import pytest
import simpy

from hwsim.systolic.memory import pipeline_end


def simpy_pipeline_end(load, compute, write, mode=None, out_slots=2):
    """Input buffering per fold (0 double, 1 single), ``out_slots`` output halves, one in-order DRAM channel, one
    array that computes a fold as its data streams in: an event model."""
    env = simpy.Environment()
    dram = simpy.PriorityResource(env, capacity=1)
    n = len(load)
    loaded = [env.event() for _ in range(n)]
    started = [env.event() for _ in range(n)]  # a load has begun (a streamed fold may compute from then on)
    computed = [env.event() for _ in range(n)]
    written = [env.event() for _ in range(n)]

    def transfer(duration, done, order, begun=None):
        with dram.request(priority=order) as req:
            yield req
            if begun is not None:
                begun.succeed()
            yield env.timeout(duration)
        done.succeed()

    def loader():
        for i in range(n):
            back = 1 if mode is not None and mode[i] else 2
            if i >= back:
                yield computed[i - back]  # the buffer (half) it fills is free again
            if i >= 1:
                yield loaded[i - 1]  # loads are issued in order
            env.process(transfer(load[i], loaded[i], 2 * i, started[i]))

    def array():
        for i in range(n):
            yield started[i]  # computes as its data streams in
            if i >= out_slots:
                yield written[i - out_slots]  # output slot of fold i-slots drained
            yield env.timeout(compute[i])
            yield loaded[i]  # and ends no earlier than its load
            computed[i].succeed()

    def writer():
        for i in range(n):
            yield computed[i]
            env.process(transfer(write[i], written[i], 2 * i + 3))  # after load(i+1)

    env.process(loader())
    env.process(array())
    env.process(writer())
    env.run()
    return env.now


@pytest.mark.parametrize("single_in", ["none", "all", "some"])
@pytest.mark.parametrize("out_slots", [2, 1])
@pytest.mark.parametrize("seed", range(8))
def test_recurrence_matches_simpy(seed, single_in, out_slots):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    scale = rng.choice([1, 10, 100])
    load = rng.integers(0, 3 * scale, n).astype(float)
    compute = rng.integers(1, 3 * scale, n).astype(float)
    write = rng.integers(0, 3 * scale, n).astype(float)
    single = {"none": np.zeros(n, np.int64), "all": np.ones(n, np.int64), "some": (rng.random(n) < 0.4) * 1}[single_in]
    assert pipeline_end(load, compute, write, single, out_slots) == \
        simpy_pipeline_end(load, compute, write, single, out_slots)


def test_compute_bound_hides_transfers():
    load = np.full(10, 5.0)
    compute = np.full(10, 100.0)
    write = np.full(10, 5.0)
    # the array starts as the first tile streams in; only the last write is exposed
    assert pipeline_end(load, compute, write, np.zeros(10, np.int64)) == 10 * 100 + 5


def test_memory_bound_is_dram_time():
    load = np.full(10, 100.0)
    compute = np.full(10, 1.0)
    write = np.zeros(10)
    assert pipeline_end(load, compute, write, np.zeros(10, np.int64)) == 10 * 100



def test_single_buffering_never_faster():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 30))
        load, compute, write = (rng.integers(0, 50, n).astype(float) for _ in range(3))
        none, every = np.zeros(n, np.int64), np.ones(n, np.int64)
        some = (rng.random(n) < 0.5) * 1
        double = pipeline_end(load, compute, write, none)
        assert pipeline_end(load, compute, write, some) >= double
        assert pipeline_end(load, compute, write, every) >= pipeline_end(load, compute, write, some)
        assert pipeline_end(load, compute, write, none, 1) >= double
