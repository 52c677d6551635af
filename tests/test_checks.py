"""The exercises' self-checks: what passes, what fails, what waits for an answer — and the answer keys themselves."""
import importlib
import math
import pkgutil

import pytest
import torch

import accel_utils as au
from accel_utils.teaching import answers
from accel_utils.teaching.answers import Choice, answer_key


@pytest.mark.parametrize("predicted, measured, passed", [
    (None, 2.0, None), (2.0, 2.1, True), (1.0, 2.0, False), (3.0, 2.0, False), (2.0, 0.0, None),
    (2.0, float("nan"), None), (-1.0, 2.0, False), ("fast", 2.0, False), (True, 2.0, False)])
def test_check_prediction(predicted, measured, passed):
    check = au.check_prediction(predicted, measured, what="speedup")
    assert check.passed is passed, check
    assert repr(check)[0] == {True: "✔", False: "✘", None: "…"}[passed]


def test_check_prediction_tolerance_is_relative_to_the_measurement():
    assert au.check_prediction(1.3, 1.0, within=0.3).passed and not au.check_prediction(1.5, 1.0, within=0.3).passed


@pytest.mark.parametrize("answer, expected, passed", [(None, 0.5, None), (0.5, 0.5, True), (0.52, 0.5, True),
                                                      (0.6, 0.5, False), ("half", 0.5, False), (math.inf, 1.0, False)])
def test_check_value(answer, expected, passed):
    assert au.check_value(answer, expected, what="share", rel_tol=0.05).passed is passed


def test_check_close():
    ref = torch.arange(6.0).reshape(2, 3)
    assert au.check_close(None, ref).passed is None
    assert au.check_close(ref + 1e-7, ref).passed
    assert not au.check_close(ref + 1, ref).passed and "differs" in au.check_close(ref + 1, ref).message
    assert not au.check_close(ref.flatten(), ref).passed and "shape" in au.check_close(ref.flatten(), ref).message


def test_attempt_turns_a_stub_into_none():
    def stub(x):
        raise NotImplementedError

    assert au.attempt(stub, 1) is None and au.attempt(lambda x: x + 1, 1) == 2
    with pytest.raises(ZeroDivisionError):
        au.attempt(lambda: 1 / 0)


def test_check_choice_judges_with_feedback(monkeypatch):
    key = Choice(options=("a", "b", "c"), correct="b", feedback={"a": "no: A", "b": "yes: B", "c": "no: C"})
    monkeypatch.setattr(answers, "answer_key", lambda k: key)
    from accel_utils.teaching import checks
    monkeypatch.setattr(checks, "answer_key", lambda k: key)
    assert au.check_choice("00.9", None).passed is None
    assert au.check_choice("00.9", "B").passed and au.check_choice("00.9", "(b)").message == "yes: B"
    wrong = au.check_choice("00.9", "a")
    assert wrong.passed is False and wrong.message == "no: A" and "b" not in wrong.message.lower().split(":")[0]
    assert not au.check_choice("00.9", "e").passed


def test_check_choice_can_depend_on_the_measurement(monkeypatch):
    key = Choice(options=("a", "b"), correct=lambda ctx: "a" if ctx["speedup"] > 1 else "b",
                 feedback={"a": "faster", "b": "slower"})
    from accel_utils.teaching import checks
    monkeypatch.setattr(checks, "answer_key", lambda k: key)
    assert au.check_choice("00.9", "a", speedup=1.5).passed and not au.check_choice("00.9", "a", speedup=0.8).passed


def test_choices_must_be_complete():
    with pytest.raises(ValueError, match="feedback must cover"):
        Choice(options=("a", "b"), correct="a", feedback={"a": "x"})
    with pytest.raises(ValueError, match="not one of"):
        Choice(options=("a", "b"), correct="c", feedback={"a": "x", "b": "y"})


def test_unknown_keys_are_named():
    with pytest.raises(KeyError, match="look like '06.3'"):
        answer_key("six")
    with pytest.raises(KeyError, match="no answer keys for notebook 98"):
        answer_key("98.1")


def test_every_answer_key_module_is_valid():
    modules = [m.name for m in pkgutil.iter_modules(answers.__path__)]
    for name in modules:
        module = importlib.import_module(f"{answers.__name__}.{name}")
        assert name.startswith("nb") and isinstance(module.KEYS, dict)
        for key, choice in module.KEYS.items():
            assert key.startswith(name[2:] + "."), f"{name}: key {key} belongs to another notebook"
            assert isinstance(choice, Choice) and len(choice.options) >= 2
            assert all(callable(text) or text.strip() for text in choice.feedback.values()), f"{key}: empty feedback"


def test_feedback_can_read_the_measurement(monkeypatch):
    key = Choice(options=("a", "b"), correct="a",
                 feedback={"a": lambda ctx: f"yes: {ctx['speedup']:.1f}×", "b": "no"})
    from accel_utils.teaching import checks
    monkeypatch.setattr(checks, "answer_key", lambda k: key)
    assert au.check_choice("00.9", "a", speedup=1.5).message == "yes: 1.5×"


def test_every_context_dependent_key_answers_for_both_outcomes():
    """A key whose right option depends on a measurement must give a valid option and feedback either way."""
    for name in [m.name for m in pkgutil.iter_modules(answers.__path__)]:
        for key, choice in importlib.import_module(f"{answers.__name__}.{name}").KEYS.items():
            if callable(choice.correct):
                assert choice.correct.__code__.co_argcount == 1, key


def test_interval_below_needs_two_intervals_that_do_not_meet():
    from types import SimpleNamespace as S

    from accel_utils.teaching.answers import interval_below
    low, high, touching = S(ci_low=1.0, ci_high=1.2), S(ci_low=1.3, ci_high=1.5), S(ci_low=1.2, ci_high=1.4)
    assert interval_below(low, high) and not interval_below(high, low)
    assert not interval_below(low, touching) and not interval_below(S(ci_low=None, ci_high=None), high)
