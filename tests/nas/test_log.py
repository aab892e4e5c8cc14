"""One logging path: the ``vidnas`` logger writes through ``tqdm.write`` to the current stdout."""
from __future__ import annotations

import logging

from nas.log import TqdmHandler, get_logger, info


def test_messages_go_through_tqdm_write_to_stdout(capsys, monkeypatch):
    import tqdm.auto

    written = []
    real = tqdm.auto.tqdm.write
    monkeypatch.setattr(tqdm.auto.tqdm, "write", classmethod(lambda cls, s, **kw: (written.append(s), real(s, **kw))))
    info("resuming: 3 evaluated architectures found")
    get_logger("search").info("search: greedy on mlp3d-nano")
    assert written == ["resuming: 3 evaluated architectures found", "search: greedy on mlp3d-nano"]
    assert capsys.readouterr().out.splitlines() == written
    root = logging.getLogger("vidnas")
    assert sum(isinstance(h, TqdmHandler) for h in root.handlers) == 1 and not root.propagate
    get_logger()                                     # installed once
    assert sum(isinstance(h, TqdmHandler) for h in root.handlers) == 1
