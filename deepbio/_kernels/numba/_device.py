"""Device functions shared by the kernel modules (``@jit(device=True)``: called from kernels).

Activations are passed to kernels as small integer codes (a string cannot cross into a
kernel); :data:`CODES` maps the contract's names to them.  Softmax is a row operation and
has its own kernels (``dense.py``); the code here covers the elementwise ones.

Each function types its literals from its argument (``T = type(v)``) so that a float32
kernel stays in float32 arithmetic.
"""
import math

from . import runtime

jit = runtime().jit

TWO_PI = 2 * math.pi

LINEAR, SIGMOID, TANH, RELU, SOFTMAX = 0, 1, 2, 3, 4
CODES = {"linear": LINEAR, "sigmoid": SIGMOID, "tanh": TANH, "relu": RELU,
         "softmax": SOFTMAX}


# sigmoid(v) = 1 / (1 + e^-v), as e / (1 + e) with e = e^v for v < 0 (no overflow)
@jit(device=True)
def sigmoid(v):
    T = type(v)
    e = math.exp(-abs(v))
    if v >= 0:
        return T(1) / (T(1) + e)
    return e / (T(1) + e)


# softplus(v) = log(1 + e^v) = max(v, 0) + log1p(e^-|v|)
@jit(device=True)
def softplus(v):
    T = type(v)
    return max(v, T(0)) + math.log1p(math.exp(-abs(v)))


# Box-Muller: z = sqrt(-2 log(1 - u1)) cos(2 pi u2) ~ N(0, 1) for u1, u2 uniform on [0, 1)
@jit(device=True)
def standard_normal(u1, u2):
    T = type(u1)
    return math.sqrt(T(-2) * math.log1p(-u1)) * math.cos(T(TWO_PI) * u2)


# a = f(v) for the elementwise activations (code as in CODES)
@jit(device=True)
def activate(v, code):
    T = type(v)
    if code == SIGMOID:
        return sigmoid(v)
    if code == TANH:
        return math.tanh(v)
    if code == RELU:
        return max(v, T(0))
    return v


# dz = da * f'(z), written from the output a = f(z)
@jit(device=True)
def activate_grad(a, da, code):
    T = type(a)
    if code == SIGMOID:
        return da * a * (T(1) - a)
    if code == TANH:
        return da * (T(1) - a * a)
    if code == RELU:
        return da if a > T(0) else T(0)
    return da
