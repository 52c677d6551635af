import pytest
import torch
import torchvision
from torch import nn
from torch.nn.utils import prune

import accel_utils as au


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "efficientnet_b0"])
def test_flops_and_params_match_torchvision_metadata(name):
    model = torchvision.models.get_model(name, weights=None)
    meta = torchvision.models.get_model_weights(name).DEFAULT.meta
    assert au.count_params(model) == pytest.approx(meta["num_params"], rel=0.02)
    macs = au.count_flops(model, torch.randn(1, 3, 224, 224)) / 2  # torchvision counts multiply-adds
    assert macs / 1e9 == pytest.approx(meta["_ops"], rel=0.02)


def test_flops_of_a_linear_layer_are_two_per_multiply_add():
    assert au.count_flops(nn.Linear(10, 20, bias=False), torch.randn(3, 10)) == 2 * 3 * 10 * 20


def test_count_params_counts_shared_once():
    layer = nn.Linear(4, 4)
    model = nn.Sequential(layer, layer)
    assert au.count_params(model) == 20


def test_count_flops_keeps_training_mode():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)).train()
    au.count_flops(model, torch.randn(2, 4))
    assert model.training


def test_model_size_bytes_is_serialized_size():
    model = nn.Linear(256, 256)
    assert 256 * 257 * 4 <= au.model_size_bytes(model) < 256 * 257 * 4 + 4096


def test_sparsity_follows_pruning_masks():
    model = nn.Sequential(nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10))
    assert au.sparsity(model) == 0.0
    prune.l1_unstructured(model[0], "weight", amount=0.5)
    assert au.sparsity(model) == pytest.approx(0.5 * 10000 / 11000, rel=1e-6)


def test_sparsity_needs_layers():
    with pytest.raises(ValueError, match="no Conv or Linear"):
        au.sparsity(nn.ReLU())


def test_attention_is_counted_on_the_cpu():
    """torch counts no FLOP in the CPU's fused attention or nn.MultiheadAttention's fast path; the course does."""
    import torch.nn.functional as F

    class Sdpa(torch.nn.Module):
        def forward(self, q):
            return F.scaled_dot_product_attention(q, q, q, is_causal=True)

    b, h, t, d = 2, 4, 128, 32
    assert au.count_flops(Sdpa(), torch.randn(b, h, t, d)) == 2 * b * h * t * t * 2 * d

    e, heads = 128, 4
    mha = torch.nn.MultiheadAttention(e, heads, batch_first=True)

    class Mha(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = mha

        def forward(self, x):
            return self.mha(x, x, x, need_weights=False)[0]

    t = 64
    projections = 4 * 2 * b * t * e * e          # q, k, v in and the output projection
    assert au.count_flops(Mha(), torch.randn(b, t, e)) == projections + 2 * b * t * t * 2 * e
