"""bench/makespan.py: the Python dask.distributed twin of bench/makespan.lua
(run by it with /usr/bin/python3): the same tasks (sleeps of 1 ms to 1 s,
in the same shuffled order, keys PREFIX-I) all needing a small value
scattered to the first of 3 workers (LocalCluster, processes, 1 thread
each); prints the makespan, the ideal and the ratio."""
import time
import logging

from distributed import Client, LocalCluster, get_worker

CLASSES = [("t1000ms", 1.0, 2), ("t300ms", 0.3, 6), ("t100ms", 0.1, 12),
           ("t10ms", 0.01, 40), ("t1ms", 0.001, 100)]


def tasks_list():
    tasks = [(p, d) for p, d, n in CLASSES for _ in range(n)]
    seed = 12345
    for i in range(len(tasks), 1, -1):  # the Lua loop, 1-based
        seed = (seed * 1103515245 + 12345) % 2147483648
        j = seed % i + 1
        tasks[i - 1], tasks[j - 1] = tasks[j - 1], tasks[i - 1]
    return tasks


def work(_, d):
    time.sleep(d)
    return get_worker().name


def main():
    tasks = tasks_list()
    total = sum(d for _, d in tasks)
    nw = 3
    ideal = max(max(d for _, d in tasks), total / nw)
    with LocalCluster(n_workers=nw, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as c:
        c.wait_for_workers(nw)
        c.gather(c.map(lambda v: v, range(6)))  # warm
        first = sorted(c.scheduler_info()["workers"])[0]
        x = c.scatter("x" * 1000, workers=[first], broadcast=False)
        t0 = time.time()
        fs = [c.submit(work, x, d, key="%s-%d" % (p, i + 1), pure=False)
              for i, (p, d) in enumerate(tasks)]
        where = c.gather(fs)
        makespan = time.time() - t0
        counts = sorted({w: where.count(w) for w in where}.items())
    print("dask: makespan %.3f s, ideal %.3f s, ratio %.3f (tasks per worker: %s)"
          % (makespan, ideal, makespan / ideal,
             ", ".join("%s %d" % kv for kv in counts)))


if __name__ == "__main__":
    main()
