"""Fixtures shared by every test folder. `tests` is a package (tests/__init__.py and one in each
folder), so pytest's rootdir insertion puts the repository root first on sys.path: the
checkout's nas / supernet / search_spaces / experiments are the ones imported, and shared
plain helpers are imported as ``tests.support...`` (tests/support/)."""
import os

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")


@pytest.fixture(scope="session", autouse=True)
def one_thread_per_xdist_worker():
    """Under pytest-xdist (the default run: two workers on the 2-core CI machine) each worker
    computes with one torch thread, so the two workers do not oversubscribe the cores; a run
    config's own ``train.threads`` still applies inside that run. Without xdist nothing changes."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)
    yield


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module's tests (`pytestmark = pytest.mark.usefixtures("one_thread")`):
    small inputs gain nothing from threads, and on a busy machine two OpenMP threads spinning
    against other processes are many times slower than one."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def ray_session():
    """One local 2-CPU Ray for the whole test session (starting Ray costs seconds)."""
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def supernet_ckpt(tmp_path_factory):
    """A 2-step mlp3d-nano supernet checkpoint (one per module that asks for it), for
    tests/nas/test_correlate.py, tests/nas/test_figures.py and tests/cli/test_new_user.py."""
    from nas.config import load_run_config
    from nas.pretrain import run_pretrain

    root = tmp_path_factory.mktemp("corr")
    cfg = load_run_config(None, base={
        "output_dir": str(root / "pre"), "model": {"name": "mlp3d-nano"},
        "data": {"dataset": "synthetic-temporal", "num_frames": 16, "size": 32, "num_classes": 10,
                 "train_clips_per_class": 4, "val_clips_per_class": 2, "cache_dir": str(root / "cache")},
        "optim": {"lr": 1e-3, "base_batch_size": 8}, "train": {"epochs": 1, "batch_size": 8, "max_steps": 2}})
    return run_pretrain(cfg).checkpoint
