"""The shared argument checks of deepbio._validation: check_int, check_int_pair,
check_real, check_choice, check_float_dtype and the one random_state resolver."""
import numpy as np
import pytest

from deepbio._validation import (InvalidParameterError, check_choice, check_float_dtype,
                                 check_int, check_int_pair, check_random_state, check_real)


def test_invalid_parameter_error_is_a_value_and_a_type_error():
    assert issubclass(InvalidParameterError, ValueError)
    assert issubclass(InvalidParameterError, TypeError)


def test_check_int_accepts_integers_and_returns_python_ints():
    for value in (3, np.int64(3), np.uint8(3), np.array(3)):
        out = check_int("units", value, low=1)
        assert out == 3 and type(out) is int
    assert check_int("n", -5) == -5                               # unbounded
    assert check_int("n", 4, low=4, high=4) == 4                  # bounds are inclusive


@pytest.mark.parametrize("value", [2.0, 2.5, "3", None, True, np.bool_(True), (1, 1),
                                   np.array([2]), np.array(2.0)])
def test_check_int_refuses_other_kinds(value):
    with pytest.raises(InvalidParameterError,
                       match=r"^units must be an int in the range \[1, inf\); got "):
        check_int("units", value, low=1)


@pytest.mark.parametrize("value, low, high, text", [
    (0, 1, None, r"units must be an int in the range \[1, inf\); got 0$"),
    (5, 0, 4, r"units must be an int in the range \[0, 4\]; got 5$"),
    (1, None, 0, r"units must be an int in the range \(-inf, 0\]; got 1$"),
])
def test_check_int_range_errors_name_the_argument_and_the_range(value, low, high, text):
    with pytest.raises(ValueError, match=text) as info:
        check_int("units", value, low=low, high=high)
    assert not isinstance(info.value, TypeError)


def test_check_int_pair():
    assert check_int_pair("stride", 2, low=1) == (2, 2)
    assert check_int_pair("stride", (1, np.int64(3)), low=1) == (1, 3)
    assert check_int_pair("stride", np.array([2, 3]), low=1) == (2, 3)
    for bad in [(1, 2, 3), (1,), np.array([1, 1, 1])]:
        with pytest.raises(ValueError, match="stride must be an int or a pair of ints"):
            check_int_pair("stride", bad, low=1)
    with pytest.raises(ValueError, match=r"stride\[1\] must be an int in the range \[1, inf\)"):
        check_int_pair("stride", (1, 0), low=1)
    with pytest.raises(TypeError, match=r"stride\[1\] must be an int .*got float 1.5"):
        check_int_pair("stride", (1, 1.5), low=1)
    with pytest.raises(ValueError):
        check_int_pair("stride", 1.5, low=1)


def test_check_real_accepts_reals_and_returns_python_floats():
    for value in (0.5, 1, np.float32(0.5), np.int64(1), np.array(0.25)):
        out = check_real("rate", value, 0.0, 1.0)
        assert type(out) is float
    assert check_real("x", -1e300) == -1e300                      # unbounded


@pytest.mark.parametrize("value", ["0.5", None, True, np.array([0.3]), 1j,
                                   np.array("0.5")])
def test_check_real_refuses_other_kinds(value):
    with pytest.raises(InvalidParameterError, match=r"^rate must be a float in the range "
                                                    r"\[0, 1\); got "):
        check_real("rate", value, 0, 1, high_open=True)


@pytest.mark.parametrize("value, kwargs, text", [
    (1.0, dict(low=0, high=1, high_open=True), r"rate must be a float in the range \[0, 1\); "
                                               r"got 1.0$"),
    (0.0, dict(low=0, low_open=True), r"rate must be a float in the range \(0, inf\); got 0.0"),
    (float("nan"), dict(low=0), "got nan"),
    (float("inf"), dict(low=0), "got inf"),
    (float("-inf"), {}, "rate must be a finite float; got -inf"),
])
def test_check_real_range_errors(value, kwargs, text):
    with pytest.raises(ValueError, match=text) as info:
        check_real("rate", value, **kwargs)
    assert not isinstance(info.value, TypeError)


def test_check_choice():
    assert check_choice("activation", "relu", ("relu", "tanh")) == "relu"
    out = check_choice("activation", np.str_("tanh"), ("relu", "tanh"))
    assert out == "tanh" and type(out) is str
    assert check_choice("header", True, ("auto", True, False)) is True
    for bad in ["Relu", None, 1, np.array(["relu"])]:
        with pytest.raises(ValueError, match=r"activation must be one of 'relu', 'tanh'; got "):
            check_choice("activation", bad, ("relu", "tanh"))
    with pytest.raises(ValueError):
        check_choice("header", 1, ("auto", True, False))        # 1 is not True


def test_check_float_dtype():
    assert check_float_dtype("dtype", np.float32) == np.float32
    assert check_float_dtype("dtype", "float64") == np.float64
    for bad in [np.int32, "int64", "no-such-type", object]:
        with pytest.raises(InvalidParameterError, match="dtype must be a floating-point dtype"):
            check_float_dtype("dtype", bad)


def test_check_random_state_is_the_one_resolver():
    g = np.random.default_rng(0)
    assert check_random_state(g) is g
    assert isinstance(check_random_state(None), np.random.Generator)
    a, b = check_random_state(7), check_random_state(np.int64(7))
    assert a.random() == b.random()
    with pytest.raises(ValueError, match="random_state .*negative seed -1"):
        check_random_state(-1)
    for bad in ["seed", 1.5, True, np.random.RandomState(0)]:
        with pytest.raises(InvalidParameterError, match="seed must be None, an int >= 0"):
            check_random_state(bad, name="seed")
    with pytest.raises(ValueError, match="legacy RandomState"):
        check_random_state(np.random.RandomState(0))


def test_check_float_dtype_restricted_to_allowed():
    allowed = ("float32", "float64")
    assert check_float_dtype("dtype", np.dtype("float32"), allowed) == np.float32
    for bad in ["float16", np.int64, np.float16, None, 4, "single-ish", True, 1.5]:
        with pytest.raises(InvalidParameterError,
                           match=r"dtype must be one of 'float32', 'float64' \(a dtype"):
            check_float_dtype("dtype", bad, allowed)


# ------------------------------------------------------------ device arrays


class _FakeCuPy:
    """Stands for a CuPy array: the CUDA array interface and a synchronising .get()."""

    def __init__(self, a):
        self._a = np.asarray(a)
        self.__cuda_array_interface__ = {"shape": self._a.shape, "typestr": "<f8",
                                         "data": (0, False), "version": 3}

    def get(self):
        return self._a.copy()


class _FakeNumbaDeviceArray(_FakeCuPy):
    get = property()                              # no .get on a Numba device array

    def copy_to_host(self):
        return self._a.copy()


def test_device_arrays_are_told_by_the_cuda_array_interface_not_by_a_get_method():
    from deepbio._device import is_device_array, to_host
    for host in (np.zeros(2), [1.0, 2.0], {"a": 1}, 3.0):
        assert not is_device_array(host)
    assert is_device_array(_FakeCuPy([1.0])) and is_device_array(_FakeNumbaDeviceArray([1.0]))
    np.testing.assert_array_equal(to_host(_FakeCuPy([[1.0, 2.0]])), [[1.0, 2.0]])
    np.testing.assert_array_equal(to_host(_FakeNumbaDeviceArray([3.0])), [3.0])
    a = np.arange(3.0)
    assert to_host(a) is a
    np.testing.assert_array_equal(to_host([1, 2]), [1, 2])


def test_a_device_array_is_validated_on_the_host():
    from deepbio._validation import check_array
    X = check_array(_FakeCuPy([[1.0, 2.0], [3.0, 4.0]]))
    assert isinstance(X, np.ndarray) and X.shape == (2, 2)


def test_an_object_with_a_get_method_is_not_taken_for_a_cupy_array():
    """A dict (or a pandas Series) has .get; it used to be called as CuPy's .get()."""
    from deepbio.models._checks import check_images
    with pytest.raises(ValueError, match="X must be an array of images, got dict"):
        check_images({"pixels": 1})
