"""Plain helpers shared by the test modules (importable as ``tests.support...``: ``tests`` is a
package, so pytest's rootdir insertion puts the repository root on ``sys.path``)."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]          # the repository root (tests/support/ is two down)
