"""Correctness of accel_utils.pruning: channel pruning rebuilds exact smaller layers; sparse storage round-trips."""
import pytest
import torch
from torch import nn

import accel_utils as au
from accel_utils import pruning


def _model(widths=(8, 16, 16), seed=0):
    torch.manual_seed(seed)
    model = au.SmallCNN(1, 10, widths)
    for m in model.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def test_channel_plan_follows_smallcnn():
    plan = pruning.channel_plan(_model())
    assert len(plan) == 6
    assert plan[0] == {"conv": "features.0", "bn": "features.1", "consumer": "features.3"}
    assert plan[-1]["consumer"] == "classifier"


def test_amount_zero_is_identity():
    model = _model()
    x = torch.randn(4, 1, 28, 28)
    same = pruning.channel_prune(model, 0.0).eval()
    torch.testing.assert_close(same(x), model(x))


def test_dead_channels_are_removed_exactly():
    """Channels whose conv weights, BN shift and mean are zero output exactly 0: removing them changes nothing."""
    model = _model()
    for step in pruning.channel_plan(model):
        conv, bn = model.get_submodule(step["conv"]), model.get_submodule(step["bn"])
        dead = torch.arange(0, conv.out_channels, 2)  # every other channel
        with torch.no_grad():
            conv.weight[dead] = 0
            bn.bias[dead] = 0
            bn.running_mean[dead] = 0
    x = torch.randn(4, 1, 28, 28)
    small = pruning.channel_prune(model, 0.5).eval()
    torch.testing.assert_close(small(x), model(x), atol=1e-5, rtol=1e-4)
    assert list(pruning.channel_counts(small).values()) == [4, 4, 8, 8, 8, 8]
    assert small.classifier.in_features == 8
    assert au.count_params(small) < au.count_params(model)


def test_channel_prune_shapes_options_and_original_untouched():
    model = _model((16, 32, 32))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    small = pruning.channel_prune(model, 0.5, round_to=8, skip=["features.0"])
    assert pruning.channel_counts(small)["features.0"] == 16
    assert all(c % 8 == 0 for c in pruning.channel_counts(small).values())
    assert small(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])
    bn = small.get_submodule("features.4")
    assert bn.running_mean.shape == (8,)
    for crit in ("l2", "bn"):
        assert pruning.channel_prune(model, 0.25, criterion=crit)(torch.randn(1, 1, 28, 28)).shape == (1, 10)
    per_layer = pruning.channel_prune(model, {"features.3": 0.75})
    assert pruning.channel_counts(per_layer)["features.3"] == 4


def test_channel_prune_keeps_highest_norm_channels():
    model = _model((4, 4, 4))
    with torch.no_grad():
        model.features[0].weight.mul_(0.01)
        model.features[0].weight[1] = 5.0
        model.features[0].weight[3] = 3.0
    small = pruning.channel_prune(model, 0.5)
    torch.testing.assert_close(small.features[0].weight, model.features[0].weight[[1, 3]])


def test_channel_prune_rejects_residual_models():
    with pytest.raises(ValueError, match="sequential-style"):
        pruning.channel_prune(au.ResNetSmall(1, 10, (8, 16), (1, 1)), 0.5)


def test_global_and_layerwise_pruning_and_permanence():
    model = _model((8, 16, 32))
    pruning.global_magnitude_prune(model, 0.8)
    assert au.sparsity(model) == pytest.approx(0.8, abs=0.01)
    assert any(k.endswith("weight_mask") for k in model.state_dict())
    pruning.make_permanent(model)
    assert not any(k.endswith(("_mask", "_orig")) for k in model.state_dict())
    assert au.sparsity(model) == pytest.approx(0.8, abs=0.01)

    model = _model((8, 16, 32))
    pruning.layerwise_magnitude_prune(model, 0.5, permanent=True)
    assert all(s == pytest.approx(0.5, abs=0.02) for s in pruning.layer_sparsity(model).values())


def test_semi_structured_mask_is_two_of_four():
    w = torch.randn(8, 6)
    with pytest.raises(ValueError):
        pruning.semi_structured_mask(w)
    w = torch.randn(8, 16)
    mask = pruning.semi_structured_mask(w)
    assert mask.reshape(8, 4, 4).sum(-1).eq(2).all()
    kept = (w.abs() * mask).reshape(8, 4, 4).sum(-1)
    top2 = w.abs().reshape(8, 4, 4).topk(2, dim=-1).values.sum(-1)
    torch.testing.assert_close(kept, top2)
    assert pruning.is_semi_structured(w * mask) and not pruning.is_semi_structured(w)


def test_semi_structured_mask_of_a_conv_groups_input_channels():
    """Sparse tensor cores reduce over input channels: each group is 4 consecutive channels at one kernel position."""
    torch.manual_seed(0)
    w = torch.randn(6, 8, 3, 3)
    mask = pruning.semi_structured_mask(w)
    assert mask.shape == w.shape and mask.is_contiguous()
    by_channel = mask.permute(0, 2, 3, 1).reshape(6, 3, 3, 2, 4)        # (out, kh, kw, group, 4 channels)
    assert by_channel.sum(-1).eq(2).all()
    kept = (w.abs() * mask).permute(0, 2, 3, 1).reshape(6, 3, 3, 2, 4).sum(-1)
    top2 = w.abs().permute(0, 2, 3, 1).reshape(6, 3, 3, 2, 4).topk(2, dim=-1).values.sum(-1)
    torch.testing.assert_close(kept, top2)
    assert pruning.is_semi_structured(w * mask)
    with pytest.raises(ValueError, match="multiple of 4"):                  # 3 input channels cannot be grouped by 4
        pruning.semi_structured_mask(torch.randn(4, 3, 3, 3))


def test_semi_structured_prune_skips_layers_it_cannot_group():
    model = _model((8, 16, 16))
    done = pruning.semi_structured_prune(model)
    assert "features.0" not in done and "features.3" in done and "classifier" in done
    for name in done:
        assert pruning.is_semi_structured(model.get_submodule(name).weight)
    assert model.get_submodule("features.0").weight.ne(0).all()


@pytest.mark.parametrize("fmt", pruning.FORMATS)
def test_compressed_state_dict_round_trips_and_shrinks(fmt):
    model = _model((16, 32, 64))
    pruning.global_magnitude_prune(model, 0.9, permanent=True)
    state = model.state_dict()
    packed = pruning.compress_state_dict(state, fmt=fmt)
    restored = pruning.decompress_state_dict(packed)
    assert restored.keys() == state.keys()
    for k in state:
        torch.testing.assert_close(restored[k], state[k])
    if fmt != "coo":  # COO's int64 indices can cost more than they save
        assert pruning.stored_size_bytes(packed) < pruning.stored_size_bytes(state)
    assert pruning.stored_size_bytes(state, compress=True) < pruning.stored_size_bytes(state)
    fresh = _model((16, 32, 64))
    fresh.load_state_dict(restored)


def test_recalibrate_batchnorm_matches_batch_statistics():
    model = _model((4, 8))
    x = torch.randn(32, 1, 28, 28)
    pruning.recalibrate_batchnorm(model, [(x, None)], num_batches=1)
    assert not model.training
    bn = model.features[1]
    with torch.no_grad():
        h = model.features[0](x)
    torch.testing.assert_close(bn.running_mean, h.mean(dim=(0, 2, 3)), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(bn.running_var, h.var(dim=(0, 2, 3), unbiased=True), atol=1e-4, rtol=1e-3)
    assert bn.momentum == 0.1


def test_answer_key_08_3_follows_the_measured_intervals():
    """(b) only when the batch-1 speedup's interval lies wholly below the large batch's; (d) when they overlap."""
    from accel_utils.core.stats import paired_speedup
    from accel_utils.teaching.answers import answer_key

    key = answer_key("08.3")
    batch = paired_speedup([2.4, 2.5, 2.45, 2.5, 2.42, 2.48, 2.46, 2.44, 2.47, 2.43], "dense", "pruned")
    low = paired_speedup([1.7, 1.8, 1.75, 1.8, 1.72, 1.78, 1.76, 1.74, 1.77, 1.73], "dense", "pruned")
    same = paired_speedup([2.3, 2.6, 2.45, 2.5, 2.4, 2.55, 2.46, 2.44, 2.5, 2.35], "dense", "pruned")
    assert key.correct_for({"batch": batch, "batch1": low}) == "b"
    assert key.correct_for({"batch": batch, "batch1": same}) == "d"
    few = paired_speedup([1.7, 1.8], "dense", "pruned")             # no interval: nothing shown, no gap to explain
    assert key.correct_for({"batch": batch, "batch1": few}) == "d"
    assert au.check_choice("08.3", "b", batch=batch, batch1=low).passed
    assert not au.check_choice("08.3", "a", batch=batch, batch1=low).passed
