"""Distributed evaluation on Ray Tune (`nas search --ray-address ADDR`, or a local Ray).

One Tune experiment runs for the whole search. Its search algorithm is a thin queue
(`_QueueSearcher`): the strategy runs in a helper thread and, whenever it asks the engine to
evaluate a round of candidates, their requests are queued; Tune's ``suggest`` turns each into
a trial, and ``on_trial_complete`` hands the result back. Trials run a function trainable on
workers with ``reuse_actors=True``: each worker process builds its evaluator (loads the
supernet checkpoint and the validation subset) once, keeps it in a process-level cache, and
scores every request it is given. Requests and results are plain data (`EvalRequest`,
`EvalResult`) and the engine writes the rows in request order, so a distributed search
writes the same table and picks the same architecture as an in-process one (losses may
differ in the last bits when workers use a different number of threads).
"""
from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
import time
from typing import Any, Callable, Iterator

import ray
from ray import tune
from ray.tune.search import Searcher

from search_spaces.errors import VidnasInputError

from ..plugins import load_plugins
from .evaluator import EvalRequest, EvalResult

_WORKER_EVALUATORS: dict[str, Any] = {}      # factory.key -> Evaluator, per worker process
_BUILDS = {"count": 0}                        # evaluators built in this process (tests check 1)
_QUEUES: dict[str, tuple[queue.Queue, queue.Queue]] = {}   # token -> (requests, results)
_DONE = "__vidnas_done__"


def worker_evaluator(factory):
    """The evaluator of `factory` in this process, built on first use."""
    if factory.key not in _WORKER_EVALUATORS:
        _WORKER_EVALUATORS.clear()                  # one search at a time per worker
        load_plugins()                              # a fresh worker: plug-in models by name
        _WORKER_EVALUATORS[factory.key] = factory.build()
        _BUILDS["count"] += 1
    return _WORKER_EVALUATORS[factory.key]


def evaluate_trial(config: dict[str, Any], factory=None) -> None:
    """Tune function trainable: score one request and report it."""
    result = worker_evaluator(factory).evaluate(EvalRequest.from_dict(config["request"]))
    tune.report({**result.to_dict(), "pid": os.getpid(), "builds": _BUILDS["count"]})


class QueueSearcher(Searcher):
    """Turns queued requests into trials; FINISHED once the strategy is done."""

    def __init__(self, token: str):
        super().__init__(metric="top1", mode="max")
        self.token = token
        self.trials: dict[str, int] = {}

    def suggest(self, trial_id: str):
        inq, _ = _QUEUES[self.token]
        try:
            item = inq.get_nowait()
        except queue.Empty:
            return None
        if item == _DONE:
            return Searcher.FINISHED
        index, request = item
        self.trials[trial_id] = index
        return {"request": request}

    def on_trial_complete(self, trial_id: str, result=None, error: bool = False):
        _, outq = _QUEUES[self.token]
        outq.put((self.trials.pop(trial_id), result, error))

    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: a resumed search replays its results table instead."""

    def restore(self, checkpoint_path: str) -> None:
        """See `save`."""


class RayTuneBackend:
    """Evaluates rounds of requests on Ray Tune workers (see the module docstring).

    Args:
        factory: the evaluator recipe (picklable; sent to the workers once).
        address: a Ray cluster address; None starts (or reuses) a local Ray.
        workers: concurrent trials (one evaluator per worker process).
        cpus_per_worker, gpus_per_worker: resources of one trial.
    """

    def __init__(self, factory, address: str | None = None, workers: int = 2,
                 cpus_per_worker: float = 1, gpus_per_worker: float = 0):
        if workers < 1:
            raise VidnasInputError(f"workers must be >= 1, got {workers}")
        self.factory = factory
        self.address = address
        self.workers = int(workers)
        self.resources = {"cpu": cpus_per_worker, "gpu": gpus_per_worker}
        self.workers_seen: dict[int, int] = {}       # worker pid -> evaluators it built
        self._token: str | None = None
        self._failed: str | None = None

    def _init_ray(self) -> None:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        if ray.is_initialized():
            return
        if self.address:
            ray.init(address=self.address, include_dashboard=False)
        else:
            ray.init(num_cpus=max(self.workers, 1), include_dashboard=False)

    def session(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` (the strategy) in a thread while the Tune experiment serves its rounds."""
        self._init_ray()
        self._token = f"vidnas-{os.getpid()}-{time.monotonic_ns()}"
        inq, outq = queue.Queue(), queue.Queue()
        _QUEUES[self._token] = (inq, outq)
        box: dict[str, Any] = {}

        def strategy_thread():
            try:
                box["value"] = fn()
            except BaseException as e:             # noqa: BLE001 - re-raised below
                box["error"] = e
            finally:
                inq.put(_DONE)

        storage = tempfile.mkdtemp(prefix="vidnas-tune-")
        thread = threading.Thread(target=strategy_thread, name="vidnas-strategy", daemon=True)
        try:
            trainable = tune.with_resources(tune.with_parameters(evaluate_trial, factory=self.factory),
                                            self.resources)
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(search_alg=QueueSearcher(self._token), num_samples=-1,
                                            reuse_actors=True, max_concurrent_trials=self.workers),
                run_config=tune.RunConfig(storage_path=storage, name="vidnas-search", verbose=0))
            thread.start()
            tuner.fit()
        finally:
            if thread.is_alive():                    # Tune stopped early: release the strategy
                self._failed = "the Ray Tune experiment stopped before the search finished"
                outq.put((-1, None, True))
                thread.join(timeout=30)
            _QUEUES.pop(self._token, None)
            shutil.rmtree(storage, ignore_errors=True)
        if "error" in box:
            raise box["error"]
        return box["value"]

    def run(self, requests: list[EvalRequest]) -> Iterator[tuple[int, EvalResult]]:
        """Queue `requests` for the Tune workers; yield (index, result) as they finish."""
        if self._token is None or self._token not in _QUEUES:
            raise RuntimeError("RayTuneBackend.run is only available inside session()")
        inq, outq = _QUEUES[self._token]
        for i, req in enumerate(requests):
            inq.put((i, req.to_dict()))
        for _ in requests:
            index, result, error = outq.get()
            if error or result is None:
                raise RuntimeError(self._failed or f"evaluation of {requests[max(index, 0)].arch} failed "
                                   "on a Ray worker (see the Ray log above)")
            self.workers_seen[int(result["pid"])] = int(result["builds"])
            yield index, EvalResult.from_dict(result)
