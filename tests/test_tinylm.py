"""accel_utils.tinylm: corpus split, tokenizer, model shapes, attention/KV-cache hooks, training, perplexity, cache."""
import copy
import math

import pytest
import torch
import torch.nn as nn

from accel_utils import tinylm

SMALL = tinylm.TinyLMConfig(d_model=32, n_layers=2, n_heads=2, max_len=64)


class ListCache:
    """A minimal KV cache, as the notebook writes it."""

    def __init__(self):
        self.k, self.v = {}, {}

    def update(self, i, k, v):
        if i in self.k:
            k, v = torch.cat([self.k[i], k], 2), torch.cat([self.v[i], v], 2)
        self.k[i], self.v[i] = k, v
        return k, v


def test_split_is_deterministic_and_disjoint():
    topics = {f"t{i:02d}": chr(97 + i % 26) * 50 for i in range(40)}
    a = tinylm.split_corpus(topics, block_chars=100)
    b = tinylm.split_corpus(topics, block_chars=100)
    assert a == b
    train, held = a
    assert 0 < len(held) < len(train)
    assert len(train) + len(held) == len("\n\n".join(topics.values()))


def test_real_corpus_is_offline_text():
    train, held = tinylm.split_corpus()
    assert len(train) > 100_000 and len(held) > 10_000
    assert 0.05 < len(held) / (len(train) + len(held)) < 0.15


def test_tokenizer_round_trip():
    tok = tinylm.ByteTokenizer()
    text = "for x in ‘range’: pass\n"
    ids = tok.encode(text)
    assert ids.dtype == torch.long and int(ids.max()) < tok.vocab_size
    assert tok.decode(ids) == text


def test_config_rejects_bad_heads():
    with pytest.raises(ValueError, match="divisible"):
        tinylm.TinyLMConfig(d_model=30, n_heads=4)


def test_forward_shape_and_length_limit():
    model = tinylm.TinyLM(SMALL).eval()
    x = torch.randint(0, 256, (3, 10))
    assert model(x).shape == (3, 10, 256)
    with pytest.raises(ValueError, match="max_len"):
        model(torch.randint(0, 256, (1, 65)))


def test_causal_mask_for_new_tokens_after_a_past():
    m = tinylm.causal_mask(2, 5)
    assert m.tolist() == [[True, True, True, True, False], [True] * 5]


def test_kv_cache_hook_matches_full_forward():
    torch.manual_seed(0)
    model = tinylm.TinyLM(SMALL).eval()
    x = torch.randint(0, 256, (2, 12))
    with torch.no_grad():
        full = model(x)
        cache = ListCache()
        a = model(x[:, :7], cache=cache)
        b = model(x[:, 7:9], cache=cache, start_pos=7)  # several new tokens after a past: the mask path
        c = model(x[:, 9:10], cache=cache, start_pos=9)  # one token
        d = model(x[:, 10:], cache=cache, start_pos=10)
    torch.testing.assert_close(torch.cat([a, b, c, d], 1), full, atol=1e-5, rtol=1e-4)


def test_set_attention_hook_is_used():
    model = tinylm.TinyLM(SMALL).eval()
    calls = []

    def spy(q, k, v, *, is_causal=False, mask=None):
        calls.append(is_causal)
        return tinylm.sdpa_attention(q, k, v, is_causal=is_causal, mask=mask)

    x = torch.randint(0, 256, (1, 5))
    ref = model(x)
    out = model.set_attention(spy)(x)
    assert calls == [True] * SMALL.n_layers
    torch.testing.assert_close(out, ref)


@pytest.mark.slow
def test_training_lowers_loss_and_perplexity_is_finite():
    torch.manual_seed(0)
    ids = tinylm.ByteTokenizer().encode("abcabcabd " * 200)
    model = tinylm.TinyLM(SMALL)
    before = tinylm.perplexity(model, ids, seq_len=32)
    info = tinylm.train_lm(model, ids, steps=30, batch_size=8, seq_len=32, log_every=5)
    after = tinylm.perplexity(model, ids, seq_len=32)
    assert info.steps == 30 and len(info.losses) == 6
    assert math.isfinite(after) and after < before


def test_time_budget_stops_training():
    ids = tinylm.ByteTokenizer().encode("hello world " * 100)
    info = tinylm.train_lm(tinylm.TinyLM(SMALL), ids, steps=10_000, batch_size=2, seq_len=16, max_seconds=0.2)
    assert 0 < info.steps < 10_000


def test_load_or_train_caches(tmp_path):
    ids = tinylm.ByteTokenizer().encode("hello world " * 100)
    kw = dict(steps=3, batch_size=2, seq_len=16, seed=1)
    m1, i1 = tinylm.load_or_train(SMALL, ids, name="t", cache_dir=tmp_path, **kw)
    m2, i2 = tinylm.load_or_train(SMALL, ids, name="t", cache_dir=tmp_path, **kw)
    assert not i1.cached and i2.cached and i2.seconds == i1.seconds
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    assert len(list(tmp_path.glob("t-*.pt"))) == 1


def test_load_or_fit_fits_once_and_names_the_file_by_key(tmp_path):
    calls = []

    def fit(m):
        calls.append(1)
        nn.init.constant_(m.weight, 0.5)
        return {"steps": 1}

    m1, i1 = tinylm.load_or_fit(nn.Linear(3, 2), fit, name="d", key={"a": 1}, cache_dir=tmp_path)
    m2, i2 = tinylm.load_or_fit(nn.Linear(3, 2), fit, name="d", key={"a": 1}, cache_dir=tmp_path)
    assert calls == [1] and not i1["cached"] and i2["cached"] and i2["steps"] == 1
    assert torch.equal(m1.weight, m2.weight) and not m2.training
    tinylm.load_or_fit(nn.Linear(3, 2), fit, name="d", key={"a": 2}, cache_dir=tmp_path)
    assert calls == [1, 1] and len(list(tmp_path.glob("d-*.pt"))) == 2


def test_state_hash_follows_the_weights():
    a = tinylm.TinyLM(SMALL)
    b = copy.deepcopy(a)
    assert tinylm.state_hash(a) == tinylm.state_hash(b)
    with torch.no_grad():
        b.head.weight[0, 0] += 1
    assert tinylm.state_hash(a) != tinylm.state_hash(b)


# ---------------------------------------------------------------- the cache: keyed by code and data, never silent
def _fit_constant(value):
    calls = []

    def fit(m):
        calls.append([p.detach().clone() for p in m.parameters()])
        with torch.no_grad():
            for p in m.parameters():
                p.fill_(value)
        return {"steps": 1}

    return fit, calls


def test_code_hash_follows_the_source():
    def f(x):
        return x + 1

    def g(x):
        return x + 2

    assert tinylm.code_hash(f) == tinylm.code_hash(f)
    assert tinylm.code_hash(f) != tinylm.code_hash(g)
    assert tinylm.code_hash(tinylm.train_lm) != tinylm.code_hash(tinylm.random_batch)


@pytest.mark.slow
def test_a_changed_trainer_trains_again(tmp_path, monkeypatch):
    """The key must hold the trainer's code: a new train_lm (same name, same arguments) is not served old weights."""
    ids = tinylm.ByteTokenizer().encode("hello world " * 100)
    kw = dict(steps=2, batch_size=2, seq_len=16, seed=1)
    _, first = tinylm.load_or_train(SMALL, ids, name="t", cache_dir=tmp_path, **kw)
    _, again = tinylm.load_or_train(SMALL, ids, name="t", cache_dir=tmp_path, **kw)
    assert not first.cached and again.cached
    original = tinylm.train_lm
    calls = []

    def train_lm(model, train_ids, **kwargs):  # a "changed trainer": same signature, other code
        calls.append(1)
        return original(model, train_ids, **kwargs)

    monkeypatch.setattr(tinylm, "train_lm", train_lm)
    _, changed = tinylm.load_or_train(SMALL, ids, name="t", cache_dir=tmp_path, **kw)
    assert calls == [1] and not changed.cached
    assert len(list(tmp_path.glob("t-*.pt"))) == 2


@pytest.mark.slow
def test_other_training_data_trains_again(tmp_path):
    tok = tinylm.ByteTokenizer()
    kw = dict(steps=2, batch_size=2, seq_len=16, seed=1)
    tinylm.load_or_train(SMALL, tok.encode("hello world " * 100), name="t", cache_dir=tmp_path, **kw)
    _, other = tinylm.load_or_train(SMALL, tok.encode("HELLO WORLD " * 100), name="t", cache_dir=tmp_path, **kw)
    assert not other.cached


def test_load_or_fit_key_holds_the_fit_code(tmp_path):
    fit_a, _ = _fit_constant(0.5)
    tinylm.load_or_fit(nn.Linear(3, 2), fit_a, name="d", key={"a": 1}, cache_dir=tmp_path)

    def fit_c(m):
        nn.init.constant_(m.weight, 0.75)
        return {"steps": 2}

    m, info = tinylm.load_or_fit(nn.Linear(3, 2), fit_c, name="d", key={"a": 1}, cache_dir=tmp_path)
    assert not info["cached"] and torch.all(m.weight == 0.75)


def test_a_corrupt_cache_is_named_and_rebuilt(tmp_path):
    fit, calls = _fit_constant(0.5)
    tinylm.load_or_fit(nn.Linear(3, 2), fit, name="d", key={"a": 1}, cache_dir=tmp_path)
    (path,) = tmp_path.glob("d-*.pt")
    path.write_bytes(b"not a checkpoint")
    with pytest.warns(RuntimeWarning, match=path.name):
        m, info = tinylm.load_or_fit(nn.Linear(3, 2), fit, name="d", key={"a": 1}, cache_dir=tmp_path)
    assert not info["cached"] and len(calls) == 2 and torch.all(m.weight == 0.5)
    _, info = tinylm.load_or_fit(nn.Linear(3, 2), fit, name="d", key={"a": 1}, cache_dir=tmp_path)
    assert info["cached"], "the rebuilt file must load"
    assert [p.name for p in tmp_path.iterdir()] == [path.name], "no temporary file left behind"


def test_an_incompatible_cache_is_named_and_refitted_from_fresh_weights(tmp_path):
    fit, calls = _fit_constant(0.5)
    tinylm.load_or_fit(nn.Linear(3, 2), fit, name="d", key={"a": 1}, cache_dir=tmp_path)
    (path,) = tmp_path.glob("d-*.pt")
    blob = torch.load(path, weights_only=True)
    blob["state_dict"]["extra"] = torch.zeros(1)   # torch would copy weight and bias, then complain about this
    torch.save(blob, path)
    fresh = nn.Linear(3, 2)
    initial = [p.detach().clone() for p in fresh.parameters()]
    with pytest.warns(RuntimeWarning, match=path.name):
        _, info = tinylm.load_or_fit(fresh, fit, name="d", key={"a": 1}, cache_dir=tmp_path)
    assert not info["cached"]
    for seen, init in zip(calls[-1], initial):
        assert torch.equal(seen, init), "fitting again must start from the module's own initial weights"


def test_a_cache_written_for_another_key_is_not_used(tmp_path):
    fit, calls = _fit_constant(0.5)
    tinylm.load_or_fit(nn.Linear(3, 2), fit, name="d", key={"a": 1}, cache_dir=tmp_path)
    (path,) = tmp_path.glob("d-*.pt")
    blob = torch.load(path, weights_only=True)
    blob["key"] = blob["key"].replace('"a": 1', '"a": 2')
    torch.save(blob, path)
    with pytest.warns(RuntimeWarning, match="another key"):
        _, info = tinylm.load_or_fit(nn.Linear(3, 2), fit, name="d", key={"a": 1}, cache_dir=tmp_path)
    assert not info["cached"] and len(calls) == 2
