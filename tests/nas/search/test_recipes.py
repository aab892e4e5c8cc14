"""Evaluator recipes: a checked supernet checkpoint is read once in the process that checked it
(issue 23, "validate once, pass the result on"), and a Ray worker still reads the file."""
from __future__ import annotations

import pickle

import supernet.training.checkpoint as checkpoint_module
from nas.search.recipes import CheckpointEvaluatorFactory


def test_the_checked_checkpoint_is_not_read_again_by_the_first_build(supernet_ckpt, monkeypatch):
    reads = []
    real = checkpoint_module.safe_load
    monkeypatch.setattr(checkpoint_module, "safe_load", lambda path, *a, **k: reads.append(path) or real(path, *a, **k))
    factory = CheckpointEvaluatorFactory(supernet_ckpt, val_size=8, batch_size=8)
    assert len(reads) == 1                               # the check
    shipped = pickle.loads(pickle.dumps(factory))        # what a Ray worker gets: no loaded weights
    assert "_checked" not in vars(shipped) and "_checked" in vars(factory)
    first = factory.build()
    assert len(reads) == 1 and "_checked" not in vars(factory)
    again = factory.build()                              # a later build reads the file
    worker = shipped.build()
    assert len(reads) == 3
    for other in (again, worker):
        theirs = other.model.state_dict()
        assert all((v == theirs[k]).all() for k, v in first.model.state_dict().items())
