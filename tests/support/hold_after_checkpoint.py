"""Test plug-in (loaded through ``VIDNAS_PLUGINS``): after a run's first ``last.pt`` is written,
the trainer waits for a signal instead of training on. A test that sends Ctrl-C "mid-run" then
cannot lose the race against a tiny run that finishes before the signal arrives."""
import time

from supernet.training.loop import Trainer

_write = Trainer.write_checkpoint


def _write_then_hold(self, path=None):
    _write(self, path)
    if path is None or path == self.ckpt_path:
        time.sleep(600)                        # SIGINT interrupts this with KeyboardInterrupt


Trainer.write_checkpoint = _write_then_hold
