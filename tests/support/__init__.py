"""Plain helpers shared by the test modules (importable as ``tests.support...``: ``tests`` is a
package, so pytest's rootdir insertion puts the repository root on ``sys.path``)."""
import importlib.util
import signal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]          # the repository root (tests/support/ is two down)


def load_experiment(name: str):
    """The script ``experiments/<name>.py`` as a module (``experiments`` holds scripts, not an
    installed package), loaded anew for each call."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sigint_as_in_a_terminal() -> None:
    """`preexec_fn` for a child a test sends Ctrl-C: SIGINT at its default, as a terminal gives
    it. pytest started as a background job of a script (``&`` without job control) inherits
    SIGINT ignored, and a child would then never see the signal. (`signal` is imported at the
    top: an import between fork and exec can deadlock.)"""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
