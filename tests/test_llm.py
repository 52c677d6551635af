"""accel_utils.llm: the GPT-2-shaped decoder and its KV cache, FLOP counts against the analytical ones, the ONNX
export and its quantized copies, perplexity, real-GPT-2 weight loading, and the 4-bit / FP8 / INT8 Linear layers."""
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import accel_utils as au
from accel_utils import llm, tinylm
from accel_utils.teaching.answers import answer_key

TINY = llm.TINY


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return llm.Decoder(TINY).eval()


def test_gpt2_small_has_gpt2s_parameter_count():
    assert llm.GPT2_SMALL.n_params == 124_439_808        # GPT-2 small, the embedding tied to the head
    assert llm.GPT2_SMALL.kv_bytes_per_token(4) == 2 * 12 * 768 * 4


@pytest.mark.parametrize("cfg", [TINY, llm.config("tiny", d_model=96, n_heads=3, n_layers=3, mlp_ratio=2)])
def test_analytic_counts_match_the_module(cfg):
    m = llm.Decoder(cfg)
    assert au.count_params(m) == cfg.n_params
    assert m.head.weight is m.wte.weight
    linear = sum(mod.weight.numel() for mod in m.modules() if isinstance(mod, nn.Linear) and mod is not m.head)
    assert cfg.matmul_params == linear + m.head.weight.numel()


def test_unknown_shape_is_named():
    with pytest.raises(KeyError, match="known"):
        llm.config("GPT-5")


def test_kv_cache_changes_nothing(model):
    ids = torch.randint(0, TINY.vocab_size, (2, 12))
    with torch.inference_mode():
        whole, k_all, _ = model(ids)
        a, k, v = model(ids[:, :7])
        b, k2, v2 = model(ids[:, 7:8], k, v)                      # one decode step
        c, _, _ = model(ids[:, 8:], torch.cat([k, k2], 3), torch.cat([v, v2], 3))   # several new tokens after a past
    torch.testing.assert_close(torch.cat([a, b, c], 1), whole, atol=1e-5, rtol=1e-5)
    assert k_all.shape == (TINY.n_layers, 2, TINY.n_heads, 12, TINY.head_dim)


def test_attend_equals_sdpa_over_the_concatenated_cache():
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 3, 4, 8) for _ in range(3))
    pk, pv = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 5, 8)
    keys, values = torch.cat([pk, k], 2), torch.cat([pv, v], 2)
    mask = torch.ones(4, 9, dtype=torch.bool).tril(diagonal=5)
    torch.testing.assert_close(llm.attend(q, pk, pv, k, v), F.scaled_dot_product_attention(q, keys, values, attn_mask=mask))


def test_generate_with_cache_equals_recomputing(model):
    ids = torch.randint(0, TINY.vocab_size, (1, 5))
    out = llm.generate(model, ids, 10)
    seq = ids
    with torch.inference_mode():
        for _ in range(10):
            seq = torch.cat([seq, model(seq)[0][:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(out, seq[:, 5:])


def _block_flops(b, t, d, heads, mlp_ratio=4, kv_len=None):
    """Analytical FLOPs of a transformer block: 2 per multiply-add in its Linear layers, plus QKᵀ and PV."""
    kv_len = t if kv_len is None else kv_len
    linear = 2 * b * t * (d * 3 * d + d * d + 2 * d * mlp_ratio * d)
    attention = 2 * b * heads * t * kv_len * (d // heads) * 2
    return linear + attention


def test_count_flops_counts_sdpa_attention_in_a_block():
    cfg = tinylm.TinyLMConfig(d_model=64, n_layers=1, n_heads=4, max_len=64)
    block = tinylm.Block(cfg, 0).eval()
    x = torch.randn(2, 48, 64)
    assert au.count_flops(block, x) == _block_flops(2, 48, 64, 4)


def test_count_flops_counts_multihead_attention():
    d, heads, b, t = 64, 4, 2, 40

    class MhaBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
            self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

        def forward(self, x):
            x = x + self.attn(x, x, x, need_weights=False)[0]
            return x + self.fc2(F.gelu(self.fc1(x)))

    assert au.count_flops(MhaBlock().eval(), torch.randn(b, t, d)) == _block_flops(b, t, d, heads)


def test_count_flops_of_a_decode_step_matches_the_roofline_formula(model):
    ids = torch.randint(0, TINY.vocab_size, (3, 1))
    pk, pv = llm.empty_cache(TINY, 3, 20)
    expected = 3 * (2 * TINY.matmul_params + 4 * TINY.n_layers * TINY.d_model * 21)
    assert au.count_flops(model, (ids, pk, pv)) == expected


def test_empty_cache_shapes_and_fill():
    k, v = llm.empty_cache(TINY, 2, 5)
    assert k.shape == v.shape == (TINY.n_layers, 2, TINY.n_heads, 5, TINY.head_dim)
    assert k.abs().sum() > 0
    z, _ = llm.empty_cache(TINY, 1, 4, fill="zeros")
    assert z.abs().sum() == 0


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    return llm.export_decode_step(model, folder / "step.onnx"), folder


@pytest.mark.slow
def test_onnx_step_matches_eager_at_any_batch_and_cache_length(model, exported):
    path, _ = exported
    assert model.head.weight is model.wte.weight            # export unties the head only while exporting
    step = llm.OrtDecodeStep(path, threads=1)
    for batch, past in ((1, 1), (3, 17)):
        ids = torch.randint(0, TINY.vocab_size, (batch, 1))
        pk, pv = llm.empty_cache(TINY, batch, past)
        with torch.inference_mode():
            ref = model(ids, pk, pv)
        for got, want in zip(step(ids, pk, pv), ref):
            torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    run = step.runner(ids, pk, pv)
    assert run()[0].shape == (3, 1, TINY.vocab_size)


@pytest.mark.slow
def test_quantized_copies_quantize_every_linear_and_the_head(model, exported):
    path, folder = exported
    n_linear = 4 * TINY.n_layers + 1
    ids = torch.randint(0, TINY.vocab_size, (2, 1))
    pk, pv = llm.empty_cache(TINY, 2, 9)
    with torch.inference_mode():
        ref = model(ids, pk, pv)[0]
    for make, op in ((llm.int8_dynamic, "MatMulInteger"), (llm.weight_4bit, "MatMulNBits")):
        out = make(path, folder / f"{op}.onnx")
        assert llm.op_counts(out).get(op) == n_linear
        assert llm.onnx_bytes(out) < 0.6 * llm.onnx_bytes(path)
        logits = llm.OrtDecodeStep(out, threads=1)(ids, pk, pv)[0]
        assert F.cosine_similarity(logits.flatten(), ref.flatten(), dim=0) > 0.99


def test_window_losses_and_perplexity_match_tinylm():
    torch.manual_seed(0)
    m = tinylm.TinyLM(tinylm.TinyLMConfig(d_model=32, n_layers=1, n_heads=2, max_len=32)).eval()
    ids = torch.randint(0, 256, (500,))
    losses = llm.window_losses(lambda x: m(x), ids, seq_len=32, batch_size=3)
    assert losses.shape == ((500 - 1) // 32,)
    ours = llm.perplexity(lambda x: m(x), ids, seq_len=32)
    assert math.isclose(ours, tinylm.perplexity(m, ids, seq_len=32), rel_tol=1e-5)
    assert math.isclose(ours, math.exp(losses.mean()), rel_tol=1e-6)


def test_hugging_face_gpt2_weights_are_transposed_into_place(model):
    hf = {"transformer.wte.weight": model.wte.weight, "transformer.wpe.weight": model.wpe.weight,
          "transformer.ln_f.weight": model.ln_f.weight, "transformer.ln_f.bias": model.ln_f.bias,
          "lm_head.weight": model.wte.weight}
    names = {"ln1": "ln_1", "ln2": "ln_2", "qkv": "attn.c_attn", "proj": "attn.c_proj", "fc1": "mlp.c_fc",
             "fc2": "mlp.c_proj"}
    for i, block in enumerate(model.blocks):
        for ours, theirs in names.items():
            mod = getattr(block, ours)
            w = mod.weight.detach()
            hf[f"transformer.h.{i}.{theirs}.weight"] = w if ours.startswith("ln") else w.t().contiguous()  # Conv1D: in × out
            hf[f"transformer.h.{i}.{theirs}.bias"] = mod.bias.detach()
    torch.manual_seed(5)
    fresh = llm.load_hf_gpt2(llm.Decoder(TINY).eval(), hf)
    ids = torch.randint(0, TINY.vocab_size, (1, 6))
    with torch.inference_mode():
        torch.testing.assert_close(fresh(ids)[0], model(ids)[0])
    assert fresh.head.weight is fresh.wte.weight


def test_tinygemm_4bit_linear_computes_its_dequantized_weight():
    torch.manual_seed(0)
    lin = nn.Linear(128, 40)
    q, sz = llm.tinygemm_quantize(lin.weight.detach(), 32)
    assert q.min() >= 0 and q.max() <= 15 and sz.shape == (128 // 32, 40, 2)
    scale, zero = sz[..., 0].t().reshape(-1, 1), sz[..., 1].t().reshape(-1, 1)
    deq = ((q.float().reshape(-1, 32) - 8) * scale + zero).reshape(40, 128)
    assert (deq - lin.weight).abs().max() <= scale.max() / 2 + 1e-6
    x = torch.randn(3, 128)
    got = llm.Int4TinyGemmLinear(lin, group=32, inner_k_tiles=2)(x)
    torch.testing.assert_close(got, F.linear(x, deq, lin.bias), atol=3e-2, rtol=3e-2)   # bf16 activations


def test_fp8_and_int8_weight_linears_stay_close_to_the_float_layer():
    torch.manual_seed(0)
    lin = nn.Linear(64, 48)
    x = torch.randn(5, 64)
    ref = lin(x)
    i8 = llm.Int8WeightLinear(lin)
    assert i8.q.dtype == torch.int8
    torch.testing.assert_close(i8(x), ref, atol=2e-2, rtol=2e-2)
    f8 = llm.Fp8RowwiseLinear(lin)
    assert f8.w8.dtype == torch.float8_e4m3fn
    assert (f8(x) - ref).abs().max() < 0.1 * ref.abs().max()


def test_swap_linears_and_weight_bytes():
    m = nn.Sequential(nn.Linear(8, 8), nn.Sequential(nn.Linear(8, 4)))
    before = llm.weight_bytes(m)
    llm.swap_linears(m, llm.Int8WeightLinear)
    assert not any(isinstance(x, nn.Linear) for x in m.modules())
    assert llm.weight_bytes(m) < before


def test_answer_key_16_3_follows_the_measurement():
    key = answer_key("16.3")
    assert key.correct_for({"byte_ratio": 1.6, "speed_ratio": 1.5}) == "a"
    assert key.correct_for({"byte_ratio": 1.6, "speed_ratio": 0.9}) == "b"
    assert answer_key("16.4").correct_for({}) == "a"


def test_window_losses_rejects_short_input():
    with pytest.raises(ValueError, match="seq_len"):
        llm.window_losses(lambda x: x, torch.arange(10), seq_len=32)
    assert np.isfinite(llm.window_losses(lambda x: torch.zeros(*x.shape, 4), torch.zeros(70, dtype=torch.long) % 4,
                                         seq_len=32)).all()


def test_cached_file_makes_once_and_keys_by_content(tmp_path):
    calls = []

    def make(path):
        calls.append(path)
        path.write_text("weights")

    a, first = llm.cached_file("step", {"k": 1}, make, folder=tmp_path)
    b, again = llm.cached_file("step", {"k": 1}, make, folder=tmp_path)
    assert a == b and a.exists() and first is not None and again is None
    c, _ = llm.cached_file("step", {"k": 2}, make, folder=tmp_path)
    assert c != a and len(calls) == 2
    assert not list(tmp_path.glob("*.tmp*"))
    assert not a.exists() and c.exists()                 # the file of the earlier key is gone
    other, _ = llm.cached_file("step-INT8", {"k": 1}, make, folder=tmp_path)
    assert c.exists() and other.exists()                 # another name's file is left alone


def test_weights_key_changes_with_any_weight(model):
    import copy

    other = copy.deepcopy(model)
    with torch.no_grad():
        other.blocks[-1].fc2.weight[0, 0] += 1
    assert llm.weights_key(other)["weights"] != llm.weights_key(model)["weights"]
    assert llm.weights_key(copy.deepcopy(model)) == llm.weights_key(model)


# The notebook writes the quantizers and the roofline's byte and FLOP counts in its own cells (the technique in
# view); these tests run those very functions, taken from the teacher's notebook, so a change there is caught here.
def _notebook_functions(cell_id: str, **names) -> dict:
    import ast
    import json
    from pathlib import Path

    nb = json.loads((Path(__file__).parents[1] / "solutions" / "16_llm_decoding.ipynb").read_text())
    source = next("".join(c["source"]) for c in nb["cells"] if c.get("id") == cell_id)
    defs = [node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)]
    namespace = {"torch": torch, **names}
    exec(compile(ast.Module(body=defs, type_ignores=[]), cell_id, "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def scratch():
    return _notebook_functions("quant-scratch", GROUP=32)


def test_notebook_int8_is_per_row_and_rounds_to_half_a_step(scratch):
    torch.manual_seed(0)
    w = torch.randn(24, 64) * torch.linspace(0.1, 3.0, 24).unsqueeze(1)    # rows of very different ranges
    q, scale = scratch["quantize_int8"](w)
    assert q.dtype == torch.int8 and scale.shape == (24, 1)
    torch.testing.assert_close(scale, w.abs().amax(dim=1, keepdim=True) / 127)
    assert int(q.abs().max()) == 127                                        # each row's extreme maps to ±127
    assert bool(((q * scale - w).abs() <= scale / 2 + 1e-7).all())


def test_notebook_4bit_has_one_scale_per_group(scratch):
    torch.manual_seed(0)
    w = torch.randn(8, 128)
    w[:, 40] = 50.0                                                         # an outlier in the second group of 32
    packed, scale = scratch["quantize_4bit"](w, group=32)
    assert scale.shape == (8, 4, 1)                                         # rows × groups
    torch.testing.assert_close(scale, w.reshape(8, 4, 32).abs().amax(dim=2, keepdim=True) / 7)
    assert bool((scale[:, 1] > 5).all()) and bool((scale[:, [0, 2, 3]] < 1).all())   # the outlier stays in its group
    err = (scratch["dequantize_4bit"](packed, scale, group=32) - w).abs().reshape(8, 4, 32)
    assert bool((err <= scale / 2 + 1e-6).all())


def test_notebook_4bit_packing_round_trips_two_values_per_byte(scratch):
    w = torch.arange(-7, 8, dtype=torch.float32).repeat(9)[:128].reshape(2, 64)   # every symmetric 4-bit value
    w[:, ::32] = 7.0                                                        # each group's largest |value| is 7: a step of 1
    packed, s = scratch["quantize_4bit"](w, group=32)
    assert packed.dtype == torch.uint8 and packed.shape == (2, 32)         # two values per byte
    torch.testing.assert_close(s, torch.ones(2, 2, 1))
    torch.testing.assert_close(scratch["dequantize_4bit"](packed, s, group=32), w)   # exact round trip
    low, high = int(w[0, 0]) + 8, int(w[0, 1]) + 8                          # even column low nibble, odd column high
    assert int(packed[0, 0]) == low | high << 4


def test_notebook_roofline_counts_bytes_and_flops_of_a_decode_step(model):
    fns = _notebook_functions("roofline-predict")
    cfg = llm.GPT2_SMALL
    weights = 12 * (768 * 3 * 768 + 768 * 768 + 2 * 768 * 3072) + 50257 * 768
    assert fns["bytes_per_step"](cfg, 1, 0) == 4 * weights
    assert fns["bytes_per_step"](cfg, 8, 128, 1, 2) == weights + 8 * 128 * 2 * 12 * 768 * 2   # INT8 weights, fp16 cache
    assert fns["bytes_per_step"](cfg, 1, 128, 0.5) == weights / 2 + 128 * 2 * 12 * 768 * 4
    assert fns["flops_per_step"](cfg, 4, 99) == 4 * (2 * weights + 4 * 12 * 768 * 100)
    ids = torch.randint(0, TINY.vocab_size, (2, 1))
    pk, pv = llm.empty_cache(TINY, 2, 7)
    assert au.count_flops(model, (ids, pk, pv)) == fns["flops_per_step"](TINY, 2, 7)
    # batch-1 intensity of an fp32 step: about 2 FLOPs per 4-byte weight, far left of any CPU's ridge
    assert 0.45 < fns["flops_per_step"](cfg, 1, 128) / fns["bytes_per_step"](cfg, 1, 128) < 0.55
