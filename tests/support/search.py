"""Helpers shared by the search tests (tests/nas/search/, tests/nas/test_compat.py): the small
MLP-3D model and its cost tables (built once per test session), random batches, a toy 1-D
supernet, a backend that crashes after some evaluations."""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nas.search import InProcessBackend, build_cost_table
from search_spaces import Choice, SearchSpace
from supernet.base import SearchableUnit, Supernet
from supernet.registry import build_model, model_entry

QUIET = dict(progress=False, log=lambda s: None)
SIZE = (16, 32, 32)
SR_LR = ("short_range", "long_range")          # 6 tokens, 4 distinct functions per unit

def small_model(seed=0, **kwargs):
    torch.manual_seed(seed)
    return build_model("mlp3d-nano", SIZE, 10, gtm_types=SR_LR, **kwargs)


def random_batches(n_batches, batch, seed, shape=(3,) + SIZE, classes=10):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch, *shape, generator=g), torch.randint(0, classes, (batch,), generator=g))
            for _ in range(n_batches)]


_TABLES = {}


def cost_table_of(name, **kwargs):
    """Tables are built once per test session (they take a few fvcore traces)."""
    key = (name, tuple(sorted(kwargs.items())))
    if key not in _TABLES:
        model = build_model(name, **kwargs) if name != "small" else small_model()
        size = model_entry(name).default_input if name != "small" else SIZE
        _TABLES[key] = (model, build_cost_table(model, size))
    return _TABLES[key]


def rows(df):
    return df.drop(columns=["seconds"]).reset_index(drop=True)


# A toy supernet (1-D signals, BatchNorm everywhere) to test recalibration and contract checks.
@dataclass(frozen=True)
class KernelChoice(Choice):
    k: int

    @property
    def token(self):
        return f"k{self.k}"


class KernelSpace(SearchSpace):
    name = "toy-kernel"
    choice_cls = KernelChoice

    def __init__(self, units=3, kernels=(1, 3, 5)):
        self.unit_names = tuple(f"u{i}" for i in range(units))
        self.unit_stages = tuple(0 for _ in range(units))
        self._choices = tuple(tuple(KernelChoice(k) for k in kernels) for _ in range(units))

    def config(self):
        return {"space": self.name, "units": len(self.unit_names)}

    def parse_token(self, token):
        if not token.startswith("k") or not token[1:].isdigit():
            raise ValueError("expected k<int>")
        return KernelChoice(int(token[1:]))


class ConvUnit(SearchableUnit):
    """Conv1d whose kernel is the choice (centre slice of the largest), BN, ReLU; with
    `stride_on` a choice also strides (breaking the cost contract on purpose)."""

    def __init__(self, ch, choice=None, stride_on=None):
        super().__init__()
        self.conv = nn.Conv1d(ch, ch, 5, padding=2, bias=False)
        self.bn = nn.BatchNorm1d(ch)
        self.stride_on = stride_on
        self._init_choice(choice)

    def forward(self, x):
        k = self.choice.k
        w = self.conv.weight[:, :, 2 - k // 2: 2 + k // 2 + 1]
        stride = 2 if self.choice.k == self.stride_on else 1
        return F.relu(self.bn(F.conv1d(x, w, padding=k // 2, stride=stride)))

    def fixed_state(self, choice):
        return self.state_dict()


class ToyNet(Supernet):
    def __init__(self, arch=None, stride_on=None):
        super().__init__()
        self.space = KernelSpace()
        self.build_kwargs = {"stride_on": stride_on}
        self.stem = nn.Sequential(nn.Conv1d(3, 8, 3, padding=1), nn.BatchNorm1d(8), nn.ReLU())
        fixed = None if arch is None else self.space.parse(arch)
        c = lambda i: None if fixed is None else fixed[i]  # noqa: E731
        self.layers = nn.ModuleList([ConvUnit(8, c(0), stride_on), ConvUnit(8, c(1), stride_on),
                                     nn.Sequential(nn.Conv1d(8, 8, 1), nn.BatchNorm1d(8)),
                                     ConvUnit(8, c(2), stride_on)])
        self.unit_layers = [0, 1, 3]
        self.layer_stages = [0, 0, 0, 0]
        self.head = nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(8, 4))
        self._init_arch(fixed)


class CrashAfter(InProcessBackend):
    """Evaluates `limit` requests, then dies (an in-process stand-in for a kill)."""

    def __init__(self, factory, limit):
        super().__init__(factory)
        self.limit, self.done = limit, 0

    def run(self, requests):
        for item in super().run(requests):
            if self.done == self.limit:
                raise RuntimeError("simulated crash")
            self.done += 1
            yield item
