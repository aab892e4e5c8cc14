"""The `Trainer` and its hooks (`TrainHooks`): when each hook runs, what evaluation adds to the
epoch summary, resume through the class, and the `train(...)` compatibility wrapper."""
import pytest
import torch
from torch import nn

from supernet.training.checkpoint import load_checkpoint
from supernet.training.config import OptimConfig, TrainConfig
from supernet.training.loop import FunctionHooks, RunPlace, TrainData, Trainer, TrainHooks, train

pytestmark = pytest.mark.usefixtures("one_thread")

STEPS = 4                                   # batches per epoch


class Toy(nn.Module):
    """A linear classifier of tiny clips, with the `spec` a checkpoint stores."""

    def __init__(self):
        super().__init__()
        self.spec = {"name": "toy"}
        self.fc = nn.Linear(3 * 2 * 4 * 4, 3)
        self.drop = nn.Dropout(0.2)             # draws from torch's RNG every step

    def forward(self, x):
        return self.fc(self.drop(x.flatten(1)))


def loader(empty=()):
    """`make_loader` over STEPS fixed batches; batch positions in `empty` have no readable clip."""
    g = torch.Generator().manual_seed(0)
    data = [(torch.randn(2, 3, 2, 4, 4, generator=g), torch.randint(0, 3, (2,), generator=g))
            for _ in range(STEPS)]

    def make_loader(epoch, start_batch):
        for b in range(start_batch, STEPS):
            clips, labels = data[b]
            yield (clips[:0], labels[:0], 2) if (epoch, b) in empty else (clips, labels, 0)
    return make_loader


class Recorder(TrainHooks):
    def __init__(self):
        self.events, self.evaluated, self.epochs = [], [], []

    def transform_batch(self, clips, labels, step):
        self.events.append(("transform", step))
        return clips, labels

    def before_step(self, step):
        self.events.append(("before", step))

    def evaluate(self, model, step):
        self.evaluated.append(step)
        model.eval()                            # the trainer puts it back in training mode
        return {"val_top1": 50.0 + step}

    def on_epoch_end(self, epoch, summary):
        self.epochs.append((epoch, summary["val_top1"], summary["skipped_batches"]))


def fit(out, hooks=None, max_steps=None, resume=False, empty=()):
    torch.manual_seed(1)
    model = Toy()
    cfg = TrainConfig(epochs=3, batch_size=2, checkpoint_every=100, max_steps=max_steps, seed=4)
    place = RunPlace(out, "standalone", {"note": "toy"}, torch.device("cpu"), final_name="model.pt")
    trainer = Trainer(model, train_cfg=cfg, optim_cfg=OptimConfig(lr=1e-2, base_batch_size=2),
                      data=TrainData(loader(empty), STEPS), place=place, hooks=hooks, progress=False)
    return model, trainer.fit(resume)


def test_hooks_run_in_order_once_per_step_and_evaluation_joins_the_epoch_summary(tmp_path):
    hooks = Recorder()
    model, result = fit(tmp_path / "run", hooks, empty={(1, 2)})
    trained = [s for s in range(3 * STEPS) if s != STEPS + 2]          # the empty batch is skipped
    assert hooks.events == [(kind, s) for s in trained for kind in ("transform", "before")]
    assert hooks.evaluated == [4, 8, 12]                               # every epoch boundary
    assert hooks.epochs == [(0, 54.0, 0), (1, 58.0, 1), (2, 62.0, 0)]
    assert result.step == 12 and result.epoch == 3 and result.checkpoint == tmp_path / "run" / "model.pt"
    assert result.last_epoch["val_top1"] == 62.0 and result.last_epoch["clips"] == 8
    assert model.training
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + len(trained)


def test_a_resumed_trainer_calls_the_hooks_for_the_remaining_steps_only(tmp_path):
    full, _ = fit(tmp_path / "full")                                   # no hooks: the defaults
    first, second = Recorder(), Recorder()
    fit(tmp_path / "part", first, max_steps=6)
    assert load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")["step"] == 6
    assert [s for kind, s in first.events if kind == "before"] == list(range(6))
    assert first.evaluated == [4, 6] and [e for e, _, _ in first.epochs] == [0, 1]   # the last step evaluates
    resumed, result = fit(tmp_path / "part", second, resume=True)
    assert [s for kind, s in second.events if kind == "before"] == list(range(6, 12))
    assert second.evaluated == [8, 12] and [e for e, _, _ in second.epochs] == [1, 2]
    assert result.step == 12
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k                   # evaluate's draws and mode changes leave no trace


def test_train_wrapper_is_the_trainer_with_function_hooks(tmp_path):
    steps, seen = [], []
    torch.manual_seed(1)
    model = Toy()
    result = train(model, train_cfg=TrainConfig(epochs=3, batch_size=2, checkpoint_every=100, seed=4),
                   optim_cfg=OptimConfig(lr=1e-2, base_batch_size=2), make_loader=loader(), steps_per_epoch=STEPS,
                   out_dir=tmp_path / "wrapped", kind="standalone", config={"note": "toy"},
                   device=torch.device("cpu"), before_step=steps.append, final_name="model.pt", progress=False,
                   evaluate=lambda m, step: seen.append(step) or {"val_top1": 1.0})
    assert steps == list(range(12)) and seen == [4, 8, 12] and result.last_epoch["val_top1"] == 1.0
    hooks = FunctionHooks(before_step=lambda step: None, evaluate=lambda m, step: {"val_top1": 1.0})
    direct, _ = fit(tmp_path / "direct", hooks)
    for (k, a), (_, b) in zip(model.state_dict().items(), direct.state_dict().items()):
        assert torch.equal(a, b), k
    a = load_checkpoint(tmp_path / "wrapped" / "model.pt")
    b = load_checkpoint(tmp_path / "direct" / "model.pt")
    assert a["step"] == b["step"] == 12 and a["kind"] == b["kind"] == "standalone"
