"""The kernel contract: every kernel's name, arguments, shapes, dtypes and outputs.

Every backend implements the functions listed in :data:`CONTRACT` with exactly these
signatures; :func:`make_kernels` wraps an implementation in the validation layer, so no
implementation ever sees an unchecked array.  ``docs/kernels.md`` is this table in prose.

Shape strings name dimensions by symbol: ``"N,D"`` is a 2-d array whose first axis has
length N; every use of one symbol within a call must agree.  A leading ``i:`` marks an
``int64`` index array; a leading ``?`` an optional array (may be ``None``); a ``!`` (after
any ``?``) an array the kernel updates in place (the optimiser family only).  All other
arrays are floating, and all floating arrays of one call share one dtype (float32 or
float64).  Every array must be C-contiguous with every dimension at least 1.

Rules every implementation follows:

* pure functions: inputs are never modified; outputs are new arrays of the input dtype
  -- except the ``optim`` family, whose kernels update the parameter vector and the
  optimiser state (the ``!`` arrays) in place in one pass over the flat buffer, as
  PyTorch's fused optimisers do, and return those same arrays;
* parameter gradients are *returned* (overwrite semantics), never accumulated into
  arrays the caller passed in;
* randomness enters only as arrays of uniforms on [0, 1) drawn by the caller, and those
  come from one generator, ``philox_uniform`` (Philox4x32-10 keyed by seed, stream and
  offset), which every backend computes bit for bit alike.

A kernel may take no arrays at all (``philox_uniform`` takes only options, among them
its output ``dtype``); its float dtype is then that option's.
"""
import inspect
from typing import Callable, NamedTuple, Optional

import numpy as np

from .._validation import (check_choice, check_float_dtype, check_int, check_int_pair,
                           check_real)
from . import reference

FLOAT_DTYPES = ("float32", "float64")
ACTIVATIONS = reference.ACTIVATIONS
RNN_ACTIVATIONS = reference.RNN_ACTIVATIONS


class KernelSpec(NamedTuple):
    name: str
    family: str
    arrays: dict           # argument name -> shape string
    options: dict          # argument name -> option kind (see _OPTION_CHECKS)
    returns: str           # human readable outputs
    check: Optional[Callable] = None   # extra consistency check(args, dims) of shapes/options
    values: Optional[Callable] = None  # a check that reads array values (args), every call


# ---------------------------------------------------------------- option validation


#: Largest size, stride, padding or count an int option may have.  Larger values cannot
#: describe an array that fits in memory, and past 2**63 they overflowed the kernels' C
#: integers (OverflowError; found by tests/fuzz/fuzz_kernels.py).
MAX_INT_OPTION = 2**31 - 1

# The option checks are the shared ones of deepbio._validation (one copy of each rule).
_OPTION_CHECKS = {
    "activation": lambda n, v: check_choice(n, v, ACTIVATIONS),
    "rnn_activation": lambda n, v: check_choice(n, v, RNN_ACTIVATIONS),
    "pair_pos": lambda n, v: check_int_pair(n, v, 1, MAX_INT_OPTION),
    "pair_nonneg": lambda n, v: check_int_pair(n, v, 0, MAX_INT_OPTION),
    "int_pos": lambda n, v: check_int(n, v, 1, MAX_INT_OPTION),
    "int_nonneg": lambda n, v: check_int(n, v, 0, MAX_INT_OPTION),
    "prob": lambda n, v: check_real(n, v, 0.0, 1.0),
    "open_prob": lambda n, v: check_real(n, v, 0.0, 1.0, True, True),
    "nonneg": lambda n, v: check_real(n, v, 0.0),
    "pos_real": lambda n, v: check_real(n, v, 0.0, low_open=True),
    "uint64": lambda n, v: check_int(n, v, 0, 2**64 - 1),
    "float_dtype": lambda n, v: check_float_dtype(n, v, FLOAT_DTYPES),
    "bool": lambda n, v: _check_bool(n, v),
}


def _check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


# ------------------------------------------------------------------ shape checks


def _need(cond, msg):
    if not cond:
        raise ValueError(msg)


def _check_conv2d_forward(a, d):
    for ax, (n, k, s, p) in zip("HW", zip((d["H"], d["W"]), (d["KH"], d["KW"]),
                                          a["stride"], a["padding"])):
        _need(n + 2 * p >= k, f"conv2d: kernel {ax} size {k} exceeds padded input size {n + 2 * p}")


def _check_conv_out(ax_names, in_sizes, kernels, outs, stride, padding, what):
    for ax, n, k, o, s, p in zip(ax_names, in_sizes, kernels, outs, stride, padding):
        _need(n + 2 * p >= k, f"{what}: kernel {ax} size {k} exceeds padded input size {n + 2 * p}")
        want = reference.out_size(n, k, s, p)
        _need(o == want, f"{what}: dy has output {ax} size {o}, but input size {n}, kernel {k}, "
                         f"stride {s} and padding {p} give {want}")


def _check_conv2d_backward_input(a, d):
    _check_conv_out("HW", a["in_size"], (d["KH"], d["KW"]), (d["OH"], d["OW"]),
                    a["stride"], a["padding"], "conv2d_backward_input")


def _check_conv2d_backward_weight(a, d):
    _check_conv_out("HW", (d["H"], d["W"]), a["kernel_size"], (d["OH"], d["OW"]),
                    a["stride"], a["padding"], "conv2d_backward_weight")


def _check_conv1d_forward(a, d):
    _need(d["L"] + 2 * a["padding"] >= d["K"],
          f"conv1d: kernel size {d['K']} exceeds padded input length {d['L'] + 2 * a['padding']}")


def _check_conv1d_backward_input(a, d):
    _check_conv_out("L", (a["in_size"],), (d["K"],), (d["OL"],), (a["stride"],),
                    (a["padding"],), "conv1d_backward_input")


def _check_conv1d_backward_weight(a, d):
    _check_conv_out("L", (d["L"],), (a["kernel_size"],), (d["OL"],), (a["stride"],),
                    (a["padding"],), "conv1d_backward_weight")


def _check_pool2d_forward(a, d):
    for ax, n, k in zip("HW", (d["H"], d["W"]), a["kernel"]):
        _need(k <= n, f"pool2d: kernel {ax} size {k} exceeds input size {n}")


def _check_pool1d_forward(a, d):
    _need(a["kernel"] <= d["L"], f"pool1d: kernel size {a['kernel']} exceeds input length {d['L']}")


def _check_pool2d_backward(a, d):
    _check_conv_out("HW", a["in_size"], a["kernel"], (d["OH"], d["OW"]), a["stride"], (0, 0),
                    "avgpool2d_backward")


def _check_pool1d_backward(a, d):
    _check_conv_out("L", (a["in_size"],), (a["kernel"],), (d["OL"],), (a["stride"],), (0,),
                    "avgpool1d_backward")


def _check_argmax_values(a):
    """The argmax indices lie in one input plane: two reductions, read on the host (a
    synchronisation on a GPU; layers pass indices their forward kernel made, through
    ``Kernels.trusted``, which skips this)."""
    size = a["in_size"]
    plane = size[0] * size[1] if isinstance(size, tuple) else size
    idx = a["argmax"]
    lo, hi = int(idx.min()), int(idx.max())
    _need(0 <= lo and hi < plane, f"argmax: indices must lie in [0, {plane}) for in_size "
                                  f"{size}, got values in [{lo}, {hi}]")


def _check_argmax(size_name):
    def check(a, d):
        size = a["in_size"]
        if isinstance(size, tuple):
            _need(d["OH"] <= size[0] and d["OW"] <= size[1],
                  f"{size_name}: output {d['OH']}x{d['OW']} larger than in_size {size}")
        else:
            _need(d["OL"] <= size, f"{size_name}: output length {d['OL']} larger than in_size {size}")
    return check


def _check_lstm(a, d):
    _need(d["G"] == 4 * d["H"], f"lstm: weights must have 4*H = {4 * d['H']} gate columns "
                                f"(i, f, g, o), got {d['G']}")


def _check_gru(a, d):
    _need(d["G"] == 3 * d["H"], f"gru: weights must have 3*H = {3 * d['H']} gate columns "
                                f"(r, z, n), got {d['G']}")


def _check_scale(a, d):
    if a["scale"] is not None:
        _need(d["S"] == 1, f"scale must have shape (1,) (the factor clip_scale returns), "
                           f"got ({d['S']},)")


def _check_rmsprop(a, d):
    _check_scale(a, d)
    _need(a["momentum"] == 0 or a["buf"] is not None,
          f"momentum={a['momentum']} needs the momentum buffer buf (P,), got None")


# ------------------------------------------------------------------------ the contract

_S = KernelSpec
_SPECS = [
    # random numbers (Philox4x32-10; the keying rule is in reference.philox_uniform)
    _S("philox_uniform", "random", {},
       {"n": "int_pos", "seed": "uint64", "stream": "uint64", "offset": "uint64",
        "dtype": "float_dtype"}, "u (n,)"),
    # RBM
    _S("sigmoid_bernoulli", "rbm", {"x": "N,D", "u": "N,D"}, {}, "(p (N,D), s (N,D))"),
    _S("gaussian_sample", "rbm", {"mean": "N,D", "sigma": "D", "u1": "N,D", "u2": "N,D"}, {},
       "v (N,D)"),
    _S("cd_statistics", "rbm", {"v0": "N,D", "h0": "N,H", "vk": "N,D", "hk": "N,H"}, {},
       "(dW (D,H), db (D,), dc (H,))"),
    _S("free_energy", "rbm", {"v": "N,D", "W": "D,H", "b": "D", "c": "H", "sigma": "?D"}, {},
       "F (N,)"),
    # dense / autoencoder
    _S("activation_forward", "dense", {"z": "N,D"}, {"activation": "activation"}, "a (N,D)"),
    _S("activation_backward", "dense", {"a": "N,D", "da": "N,D"}, {"activation": "activation"},
       "dz (N,D)"),
    _S("dense_forward", "dense", {"x": "N,D", "W": "D,H", "b": "H"},
       {"activation": "activation"}, "a (N,H)"),
    _S("dense_backward", "dense", {"x": "N,D", "W": "D,H", "a": "N,H", "da": "N,H"},
       {"activation": "activation"}, "(dx (N,D), dW (D,H), db (H,))"),
    _S("sparsity_grad", "dense", {"a": "N,H"}, {"rho": "open_prob", "beta": "nonneg"},
       "(penalty (), da (N,H))"),
    _S("mask_corrupt", "dense", {"x": "N,D", "u": "N,D"}, {"p": "prob"}, "x_tilde (N,D)"),
    _S("gaussian_corrupt", "dense", {"x": "N,D", "u1": "N,D", "u2": "N,D"}, {"std": "nonneg"},
       "x_tilde (N,D)"),
    # convolution
    _S("conv2d_forward", "conv", {"x": "N,C,H,W", "w": "F,C,KH,KW", "b": "F"},
       {"stride": "pair_pos", "padding": "pair_nonneg"}, "y (N,F,OH,OW)", _check_conv2d_forward),
    _S("conv2d_backward_input", "conv", {"dy": "N,F,OH,OW", "w": "F,C,KH,KW"},
       {"in_size": "pair_pos", "stride": "pair_pos", "padding": "pair_nonneg"},
       "dx (N,C,H,W)", _check_conv2d_backward_input),
    _S("conv2d_backward_weight", "conv", {"dy": "N,F,OH,OW", "x": "N,C,H,W"},
       {"kernel_size": "pair_pos", "stride": "pair_pos", "padding": "pair_nonneg"},
       "(dw (F,C,KH,KW), db (F,))", _check_conv2d_backward_weight),
    _S("conv1d_forward", "conv", {"x": "N,C,L", "w": "F,C,K", "b": "F"},
       {"stride": "int_pos", "padding": "int_nonneg"}, "y (N,F,OL)", _check_conv1d_forward),
    _S("conv1d_backward_input", "conv", {"dy": "N,F,OL", "w": "F,C,K"},
       {"in_size": "int_pos", "stride": "int_pos", "padding": "int_nonneg"},
       "dx (N,C,L)", _check_conv1d_backward_input),
    _S("conv1d_backward_weight", "conv", {"dy": "N,F,OL", "x": "N,C,L"},
       {"kernel_size": "int_pos", "stride": "int_pos", "padding": "int_nonneg"},
       "(dw (F,C,K), db (F,))", _check_conv1d_backward_weight),
    # pooling
    _S("maxpool2d_forward", "pool", {"x": "N,C,H,W"}, {"kernel": "pair_pos", "stride": "pair_pos"},
       "(y (N,C,OH,OW), argmax int64 (N,C,OH,OW))", _check_pool2d_forward),
    _S("maxpool2d_backward", "pool", {"dy": "N,C,OH,OW", "argmax": "i:N,C,OH,OW"},
       {"in_size": "pair_pos"}, "dx (N,C,H,W)", _check_argmax("maxpool2d_backward"),
       _check_argmax_values),
    _S("avgpool2d_forward", "pool", {"x": "N,C,H,W"}, {"kernel": "pair_pos", "stride": "pair_pos"},
       "y (N,C,OH,OW)", _check_pool2d_forward),
    _S("avgpool2d_backward", "pool", {"dy": "N,C,OH,OW"},
       {"in_size": "pair_pos", "kernel": "pair_pos", "stride": "pair_pos"}, "dx (N,C,H,W)",
       _check_pool2d_backward),
    _S("maxpool1d_forward", "pool", {"x": "N,C,L"}, {"kernel": "int_pos", "stride": "int_pos"},
       "(y (N,C,OL), argmax int64 (N,C,OL))", _check_pool1d_forward),
    _S("maxpool1d_backward", "pool", {"dy": "N,C,OL", "argmax": "i:N,C,OL"},
       {"in_size": "int_pos"}, "dx (N,C,L)", _check_argmax("maxpool1d_backward"),
       _check_argmax_values),
    _S("avgpool1d_forward", "pool", {"x": "N,C,L"}, {"kernel": "int_pos", "stride": "int_pos"},
       "y (N,C,OL)", _check_pool1d_forward),
    _S("avgpool1d_backward", "pool", {"dy": "N,C,OL"},
       {"in_size": "int_pos", "kernel": "int_pos", "stride": "int_pos"}, "dx (N,C,L)",
       _check_pool1d_backward),
    # recurrent
    _S("elman_step_forward", "recurrent",
       {"x": "N,D", "h_prev": "N,H", "Wx": "D,H", "Wh": "H,H", "b": "H"},
       {"activation": "rnn_activation"}, "h (N,H)"),
    _S("elman_step_backward", "recurrent",
       {"dh": "N,H", "x": "N,D", "h_prev": "N,H", "h": "N,H", "Wx": "D,H", "Wh": "H,H"},
       {"activation": "rnn_activation"}, "(dx (N,D), dh_prev (N,H), dWx (D,H), dWh (H,H), db (H,))"),
    _S("elman_forward", "recurrent",
       {"x": "T,N,D", "h0": "N,H", "Wx": "D,H", "Wh": "H,H", "b": "H"},
       {"activation": "rnn_activation"}, "hs (T,N,H)"),
    _S("elman_backward", "recurrent",
       {"dhs": "T,N,H", "x": "T,N,D", "h0": "N,H", "hs": "T,N,H", "Wx": "D,H", "Wh": "H,H"},
       {"activation": "rnn_activation"}, "(dx (T,N,D), dh0 (N,H), dWx (D,H), dWh (H,H), db (H,))"),
    _S("lstm_step_forward", "recurrent",
       {"x": "N,D", "h_prev": "N,H", "c_prev": "N,H", "Wx": "D,G", "Wh": "H,G", "b": "G"}, {},
       "(h (N,H), c (N,H), gates (N,4H))", _check_lstm),
    _S("lstm_step_backward", "recurrent",
       {"dh": "N,H", "dc": "N,H", "x": "N,D", "h_prev": "N,H", "c_prev": "N,H", "c": "N,H",
        "gates": "N,G", "Wx": "D,G", "Wh": "H,G"}, {},
       "(dx (N,D), dh_prev (N,H), dc_prev (N,H), dWx (D,4H), dWh (H,4H), db (4H,))", _check_lstm),
    _S("lstm_forward", "recurrent",
       {"x": "T,N,D", "h0": "N,H", "c0": "N,H", "Wx": "D,G", "Wh": "H,G", "b": "G"}, {},
       "(hs (T,N,H), cs (T,N,H), gates (T,N,4H))", _check_lstm),
    _S("lstm_backward", "recurrent",
       {"dhs": "T,N,H", "x": "T,N,D", "h0": "N,H", "c0": "N,H", "hs": "T,N,H", "cs": "T,N,H",
        "gates": "T,N,G", "Wx": "D,G", "Wh": "H,G"}, {},
       "(dx (T,N,D), dh0 (N,H), dc0 (N,H), dWx (D,4H), dWh (H,4H), db (4H,))", _check_lstm),
    # recurrent, variable lengths (mask m), truncated BPTT (keep) and the R-op
    _S("elman_forward_masked", "recurrent",
       {"x": "T,N,D", "h0": "N,H", "m": "T,N", "Wx": "D,H", "Wh": "H,H", "b": "H"},
       {"activation": "rnn_activation"}, "(hs (T,N,H), hnew (T,N,H))"),
    _S("elman_backward_masked", "recurrent",
       {"dhs": "T,N,H", "x": "T,N,D", "h0": "N,H", "hs": "T,N,H", "hnew": "T,N,H",
        "m": "T,N", "keep": "?T,N", "Wx": "D,H", "Wh": "H,H"},
       {"activation": "rnn_activation"}, "(dx (T,N,D), dh0 (N,H), dWx (D,H), dWh (H,H), db (H,))"),
    _S("lstm_forward_masked", "recurrent",
       {"x": "T,N,D", "h0": "N,H", "c0": "N,H", "m": "T,N", "Wx": "D,G", "Wh": "H,G",
        "b": "G"}, {},
       "(hs (T,N,H), cs (T,N,H), cnew (T,N,H), gates (T,N,4H))", _check_lstm),
    _S("lstm_backward_masked", "recurrent",
       {"dhs": "T,N,H", "x": "T,N,D", "h0": "N,H", "c0": "N,H", "hs": "T,N,H", "cs": "T,N,H",
        "cnew": "T,N,H", "gates": "T,N,G", "m": "T,N", "keep": "?T,N", "Wx": "D,G",
        "Wh": "H,G"}, {},
       "(dx (T,N,D), dh0 (N,H), dc0 (N,H), dWx (D,4H), dWh (H,4H), db (4H,))", _check_lstm),
    _S("elman_rop", "recurrent", {"A": "T,N,H", "hnew": "T,N,H", "m": "?T,N", "Wh": "H,H"},
       {"activation": "rnn_activation"}, "rh (T,N,H)"),
    _S("lstm_rop", "recurrent",
       {"A": "T,N,G", "c0": "N,H", "cs": "T,N,H", "cnew": "T,N,H", "gates": "T,N,G",
        "m": "?T,N", "Wh": "H,G"}, {}, "rh (T,N,H)", _check_lstm),
    # GRU (gate order r, z, n; PyTorch's reset-gate placement), with masks and the R-op
    _S("gru_forward", "recurrent",
       {"x": "T,N,D", "h0": "N,H", "Wx": "D,G", "Wh": "H,G", "b": "G", "bh": "G"}, {},
       "(hs (T,N,H), gates (T,N,3H), hn (T,N,H))", _check_gru),
    _S("gru_backward", "recurrent",
       {"dhs": "T,N,H", "x": "T,N,D", "h0": "N,H", "hs": "T,N,H", "gates": "T,N,G",
        "hn": "T,N,H", "Wx": "D,G", "Wh": "H,G"}, {},
       "(dx (T,N,D), dh0 (N,H), dWx (D,3H), dWh (H,3H), db (3H,), dbh (3H,))", _check_gru),
    _S("gru_forward_masked", "recurrent",
       {"x": "T,N,D", "h0": "N,H", "m": "T,N", "Wx": "D,G", "Wh": "H,G", "b": "G",
        "bh": "G"}, {},
       "(hs (T,N,H), hnew (T,N,H), gates (T,N,3H), hn (T,N,H))", _check_gru),
    _S("gru_backward_masked", "recurrent",
       {"dhs": "T,N,H", "x": "T,N,D", "h0": "N,H", "hs": "T,N,H", "gates": "T,N,G",
        "hn": "T,N,H", "m": "T,N", "keep": "?T,N", "Wx": "D,G", "Wh": "H,G"}, {},
       "(dx (T,N,D), dh0 (N,H), dWx (D,3H), dWh (H,3H), db (3H,), dbh (3H,))", _check_gru),
    _S("gru_rop", "recurrent",
       {"Ax": "T,N,G", "Ah": "T,N,G", "h0": "N,H", "hs": "T,N,H", "gates": "T,N,G",
        "hn": "T,N,H", "m": "?T,N", "Wh": "H,G"}, {}, "rh (T,N,H)", _check_gru),
    # optimiser updates: in place (!) on one flat parameter buffer and its state
    _S("clip_scale", "optim", {"grad": "P", "param": "P"},
       {"weight_decay": "nonneg", "clip_norm": "pos_real"}, "scale (1,)"),
    _S("sgd_update", "optim", {"param": "!P", "grad": "P", "velocity": "!P", "scale": "?S"},
       {"lr": "nonneg", "momentum": "prob", "weight_decay": "nonneg", "nesterov": "bool"},
       "(param (P,), velocity (P,))", _check_scale),
    _S("adam_update", "optim",
       {"param": "!P", "grad": "P", "m": "!P", "v": "!P", "vmax": "?!P", "scale": "?S"},
       {"lr": "nonneg", "beta1": "prob", "beta2": "prob", "eps": "nonneg",
        "weight_decay": "nonneg", "decoupled_decay": "nonneg", "step": "int_pos"},
       "(param (P,), m (P,), v (P,))", _check_scale),
    _S("rmsprop_update", "optim",
       {"param": "!P", "grad": "P", "square_avg": "!P", "grad_avg": "?!P", "buf": "?!P",
        "scale": "?S"},
       {"lr": "nonneg", "alpha": "prob", "eps": "nonneg", "momentum": "prob",
        "weight_decay": "nonneg"},
       "(param (P,), square_avg (P,))", _check_rmsprop),
]
CONTRACT = {s.name: s for s in _SPECS}
FAMILIES = ("random", "rbm", "dense", "conv", "pool", "recurrent", "optim")


def inplace_arrays(name):
    """The array arguments kernel ``name`` updates in place (``!`` in its shape)."""
    return tuple(k for k, s in CONTRACT[name].arrays.items() if s.lstrip("?").startswith("!"))


# ------------------------------------------------------------------ array validation


_FLOAT = tuple(np.dtype(d) for d in FLOAT_DTYPES)
_INT64 = np.dtype("int64")


def _parse(spec):
    """Pre-parse a spec's shape strings: [(arg, symbols, optional, is_index, text)]."""
    out = []
    for arg, shape in spec.arrays.items():
        optional, is_index = shape.startswith("?"), shape.startswith("i:")
        text = shape.lstrip("?!").removeprefix("i:")
        out.append((arg, tuple(text.split(",")), optional, is_index, text))
    return out


def _check_arrays(spec, parsed, bound, array_type):
    """Validate every array argument of one call; return the symbol -> size table."""
    dims, dtype, first = {}, None, None
    for arg, symbols, optional, is_index, shape in parsed:
        a = bound[arg]
        inplace = spec.arrays[arg].lstrip("?").startswith("!")
        if a is None and optional:
            continue
        if not isinstance(a, array_type):
            raise TypeError(f"{spec.name}: {arg} must be a {array_type.__module__}."
                            f"{array_type.__name__} of shape ({shape}), got {type(a).__name__}")
        if a.ndim != len(symbols):
            raise ValueError(f"{spec.name}: {arg} must be {len(symbols)}-d with shape ({shape}), "
                             f"got {a.ndim}-d array of shape {tuple(a.shape)}")
        dt = a.dtype
        if is_index:
            if dt != _INT64:
                raise TypeError(f"{spec.name}: {arg} must have dtype int64, got {dt}")
        else:
            if dt not in _FLOAT:
                raise TypeError(f"{spec.name}: {arg} must have dtype float32 or float64, "
                                f"got {dt}")
            if dtype is None:
                dtype, first = dt, arg
            elif dt != dtype:
                raise TypeError(f"{spec.name}: mixed dtypes: {arg} is {dt} but {first} is "
                                f"{dtype}; convert both to one of float32, float64")
        if not a.flags.c_contiguous:
            raise ValueError(f"{spec.name}: {arg} must be C-contiguous (use np.ascontiguousarray)")
        if inplace and not getattr(a.flags, "writeable", True):
            raise ValueError(f"{spec.name}: {arg} is updated in place and must be writeable")
        for sym, size in zip(symbols, a.shape):
            if size < 1:
                raise ValueError(f"{spec.name}: {arg} has an empty axis {sym} in shape "
                                 f"{tuple(a.shape)}; every dimension must be at least 1")
            want = dims.setdefault(sym, size)
            if want != size:
                raise ValueError(f"{spec.name}: inconsistent shapes: {arg} has {sym} = {size} in "
                                 f"shape {tuple(a.shape)}, expected {sym} = {want} from the "
                                 f"other arguments")
    return dims


#: Most shape signatures remembered per kernel (a training loop has a handful: its
#: batch shapes, the last batch of an epoch, prediction batches).
SIGNATURE_CACHE_SIZE = 64


def _signature(arrays, a, opt_names):
    """What the shape, dtype and option checks of one call depend on: per array its
    shape, dtype, C-contiguity and writeability (None for a missing optional one), and the options
    after their own checks.  AttributeError / TypeError when an argument is not an
    array or an option is unhashable (the full check then says what is wrong)."""
    key = []
    for arg in arrays:
        x = a[arg]
        if x is None:
            key.append(None)
        else:
            flags = x.flags
            key += (type(x), x.shape, x.dtype.num, flags.c_contiguous,
                    getattr(flags, "writeable", True))
    for k in opt_names:
        key.append(a[k])
    key = tuple(key)
    hash(key)
    return key


def validated(spec, impl, array_type, check_values=True):
    """Wrap ``impl`` so every call is checked against ``spec`` before it runs.

    The shape, dtype, contiguity and option checks depend only on a call's signature
    (:func:`_signature`): a signature that passed once is remembered, and later calls
    with it skip straight to ``impl``.  Checks that read array values (``spec.values``,
    the argmax range) run on every call, unless ``check_values`` is False.
    """
    sig = inspect.signature(getattr(reference, spec.name))
    names = tuple(sig.parameters)
    defaults = {k: p.default for k, p in sig.parameters.items()
                if p.default is not inspect.Parameter.empty}
    opt_checks = [(k, _OPTION_CHECKS[kind]) for k, kind in spec.options.items()]
    opt_names = tuple(spec.options)
    parsed = _parse(spec)
    array_names = tuple(arg for arg, *_ in parsed)
    passed = {}                          # signatures whose checks passed
    values = spec.values if check_values else None

    def kernel(*args, **kwargs):
        if not kwargs and len(args) == len(names):      # the common, positional call
            a = dict(zip(names, args))
        else:
            try:
                bound = sig.bind(*args, **kwargs)
            except TypeError as e:
                raise TypeError(f"{spec.name}{sig}: {e}") from None
            a = {**defaults, **bound.arguments}
        for k, check in opt_checks:
            a[k] = check(f"{spec.name}: {k}", a[k])
        try:
            key = _signature(array_names, a, opt_names)
        except (AttributeError, TypeError):
            key = None
        if key is None or key not in passed:
            dims = _check_arrays(spec, parsed, a, array_type)
            if spec.check is not None:
                try:
                    spec.check(a, dims)
                except ValueError as e:
                    raise ValueError(f"{spec.name}: {e}") from None
            if key is not None and len(passed) < SIGNATURE_CACHE_SIZE:
                passed[key] = True
        if values is not None:
            try:
                values(a)
            except ValueError as e:
                raise ValueError(f"{spec.name}: {e}") from None
        return impl(**a)

    kernel.__name__ = kernel.__qualname__ = spec.name
    kernel.__doc__ = getattr(reference, spec.name).__doc__
    kernel.__signature__ = sig
    kernel.__wrapped__ = impl
    kernel.signatures = passed
    return kernel


class Kernels:
    """A namespace holding every contract kernel of one backend, each validated.

    ``kernels.dense_forward(x, W, b, "relu")`` checks its arguments, then calls the
    backend's implementation.  ``kernels.raw`` holds the unvalidated implementations, for
    callers (layers) that have already validated the same arrays once.
    ``kernels.trusted`` holds the same kernels with every check but those that read array
    values (the argmax range of the max-pool backwards): for layers that pass back the
    indices their own forward kernel returned, so a backward reads nothing on the host.
    """

    def __init__(self, implementations, array_type):
        missing = sorted(set(CONTRACT) - set(implementations))
        if missing:
            raise ValueError(f"backend implementation is missing kernels: {missing}")
        self.raw = dict(implementations)
        self.trusted = {}
        for name, spec in CONTRACT.items():
            setattr(self, name, validated(spec, implementations[name], array_type))
            self.trusted[name] = (getattr(self, name) if spec.values is None else
                                  validated(spec, implementations[name], array_type,
                                            check_values=False))

    def __iter__(self):
        return iter(CONTRACT)


def reference_implementations():
    """Every contract kernel from :mod:`reference` (the ``numpy`` backend)."""
    return {name: getattr(reference, name) for name in CONTRACT}
