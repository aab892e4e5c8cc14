"""The architecture plot's legend labels come from the search space (`plot_field`, `plot_labels`)."""
from __future__ import annotations

from nas.plots import arch_legend
from supernet.registry import build_model


def test_the_space_declares_the_plot_field_and_labels(monkeypatch):
    space = build_model("mlp3d-nano").space
    arch = space.default_arch()
    _, legend = arch_legend(space, arch)
    assert [label for label, _ in legend][0].startswith("group size ")     # the first int field
    cls = type(space)
    monkeypatch.setattr(cls, "plot_field", "gtm_type")
    monkeypatch.setattr(cls, "plot_labels", {"gtm_type": "GTM"})
    colors, legend = arch_legend(space, arch)
    types = sorted({c.gtm_type for c in space.choices(0)} | {c.gtm_type for c in arch})
    assert [label for label, _ in legend] == [f"GTM {t}" for t in types]
    assert len(colors) == space.num_units
