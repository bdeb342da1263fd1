import itertools
import math

import pytest
from zoo_reparam.schedules import ExponentialTemperature, JangTemperature

import zoo


@pytest.mark.parametrize("schedule", [ExponentialTemperature(), zoo.load("tau-exponential")])
def test_exponential_defaults_are_the_authors(schedule):
    assert schedule(0) == 1.0
    assert schedule(1) == pytest.approx(0.01 + 0.99 * 0.999)
    assert schedule(1000) == pytest.approx(0.3740185, abs=1e-7)  # 0.01 + 0.99·exp(1000·ln 0.999)
    taus = [schedule(n) for n in range(0, 20_000, 50)]
    assert all(a > b for a, b in itertools.pairwise(taus))
    assert min(taus) >= 0.01 and schedule(10**6) == pytest.approx(0.01, abs=1e-12)


@pytest.mark.parametrize("schedule", [JangTemperature(), zoo.load("tau-jang")])
def test_jang_defaults_step_every_thousand_batches(schedule):
    assert schedule(0) == schedule(999) == 1.0
    assert schedule(1000) == schedule(1999) == pytest.approx(math.exp(-0.03))
    assert schedule(5500) == pytest.approx(math.exp(-0.15))
    # exp(-3e-5·n) = 0.5 at n ≈ 23105, so the floor bites at the first multiple of 1000 after it
    assert schedule(23_999) == pytest.approx(math.exp(-0.69)) and schedule(23_999) > 0.5
    assert schedule(24_000) == 0.5
    assert schedule(10**7) == 0.5


def test_custom_parameters():
    assert ExponentialTemperature(start=2, end=0.5, rate=0.5)(2) == pytest.approx(0.5 + 1.5 * 0.25)
    assert ExponentialTemperature(start=0.3, end=0.3, rate=1.0)(10**4) == pytest.approx(0.3)
    assert JangTemperature(start=2, minimum=0.1, rate=0.01, every=1)(7) == pytest.approx(2 * math.exp(-0.07))


@pytest.mark.parametrize(
    ("factory", "kwargs"),
    [
        (ExponentialTemperature, {"start": 0.01, "end": 1.0}),
        (ExponentialTemperature, {"end": 0.0}),
        (ExponentialTemperature, {"rate": 0.0}),
        (ExponentialTemperature, {"rate": 1.5}),
        (JangTemperature, {"start": 0.0}),
        (JangTemperature, {"minimum": -0.5}),
        (JangTemperature, {"rate": -1e-5}),
        (JangTemperature, {"every": 0}),
    ],
)
def test_bad_arguments_raise(factory, kwargs):
    with pytest.raises(ValueError):
        factory(**kwargs)


@pytest.mark.parametrize("schedule", [ExponentialTemperature(), JangTemperature()])
def test_negative_step_raises(schedule):
    with pytest.raises(ValueError, match="step"):
        schedule(-1)


@pytest.mark.parametrize(
    ("entry", "args", "message"),
    [
        ("tau-exponential", {"start": math.nan}, r"start must be a finite number >= 0\.01; got nan"),
        ("tau-exponential", {"start": math.inf}, r"start must be a finite number"),
        ("tau-exponential", {"end": 0}, r"end must be a finite number > 0\.0; got 0"),
        ("tau-exponential", {"start": 0.001}, r"start must be a finite number >= 0\.01; got 0\.001"),
        ("tau-exponential", {"rate": 0}, r"rate must be a finite number in \(0\.0, 1\.0\]; got 0"),
        ("tau-jang", {"rate": math.nan}, r"rate must be a finite number >= 0\.0; got nan"),
        ("tau-jang", {"minimum": -1}, r"minimum must be a finite number > 0\.0"),
        ("tau-jang", {"every": 0}, r"every must be an integer >= 1; got 0"),
    ],
)
def test_bad_schedule_arguments_name_the_argument_and_range(entry, args, message):
    """tau-jang accepted rate=nan and then always returned its minimum."""
    with pytest.raises(ValueError, match=message):
        zoo.load(entry, **args)
