"""Meta-tests: the kernel suite and docs/kernels.md cover the whole contract.

Adding a kernel to :data:`deepbio._kernels.CONTRACT` without tests fails here: it needs
example arguments (which feed the equivalence and bad-input tests), a finite-difference
case if it is a gradient kernel, a check against its definition or a gradient / sampling
test, a PyTorch cross-check where PyTorch has the operation, and a row in
``docs/kernels.md``.  ``python -m tests.kernels.test_coverage`` prints that table.
"""
from pathlib import Path

import numpy as np
from deepbio._kernels import ACTIVATIONS, CONTRACT, FAMILIES

from . import test_definitions, test_gradients, test_torch, test_validation
from ._examples import example_args, expected_outputs, returns_of

DOCS = Path(__file__).resolve().parents[2] / "docs" / "kernels.md"

#: Kernels whose tests live in test_sampling.py (distributions, same-uniform equality).
SAMPLING = {"sigmoid_bernoulli", "gaussian_sample", "mask_corrupt", "gaussian_corrupt"}

#: Gradient kernels: every one needs a finite-difference case.
GRADIENT_KERNELS = {n for n in CONTRACT if "_backward" in n} | {"sparsity_grad",
                                                             "cd_statistics"}

OPTION_TEXT = {
    "activation": "one of " + ", ".join(f"`{a}`" for a in ACTIVATIONS),
    "rnn_activation": "`tanh` or `relu`",
    "pair_pos": "int or (int, int), >= 1",
    "pair_nonneg": "int or (int, int), >= 0",
    "int_pos": "int >= 1",
    "int_nonneg": "int >= 0",
    "prob": "real in [0, 1]",
    "open_prob": "real in (0, 1)",
    "nonneg": "real in [0, inf)",
    "uint64": "int in [0, 2^64)",
    "float_dtype": "`float32` or `float64`",
    "bool": "bool",
    "pos_real": "real in (0, inf)",
}


def _shape_text(shape):
    if shape.startswith("i:"):
        return f"({shape[2:]}) int64"
    optional, shape = shape.startswith("?"), shape.lstrip("?")
    inplace, shape = shape.startswith("!"), shape.lstrip("!")
    text = f"({shape})" + (" or None" if optional else "")
    return text + (" in place" if inplace else "")


def contract_rows():
    """One markdown table row per kernel, rendered from CONTRACT."""
    rows = []
    for name, spec in CONTRACT.items():
        arrays = ", ".join(f"`{a}` {_shape_text(s)}" for a, s in spec.arrays.items()) or "-"
        options = ", ".join(f"`{o}`: {OPTION_TEXT[k]}" for o, k in spec.options.items()) or "-"
        rows.append(f"| `{name}` | {spec.family} | {arrays} | {options} | {spec.returns} |")
    return rows


def render_table():
    head = ["| kernel | family | arrays (shape; float unless int64) | options | returns |",
            "|---|---|---|---|---|"]
    return "\n".join(head + contract_rows())


def test_every_kernel_has_valid_examples_matching_its_returns():
    for name in CONTRACT:
        args = example_args(name, np.float64, np.random.default_rng(0))
        assert set(args) == set(CONTRACT[name].arrays) | set(CONTRACT[name].options), name
        assert len(expected_outputs(name, args)) == len(returns_of(name)) >= 1, name


def test_every_kernel_has_bad_input_cases():
    covered = {p.values[0] for p in test_validation.ARRAY_CASES}
    assert covered == {n for n, s in CONTRACT.items() if s.arrays}
    with_options = {p.values[0] for p in test_validation.OPTION_CASES}
    assert with_options == {n for n, s in CONTRACT.items() if s.options}


def test_every_gradient_kernel_has_a_finite_difference_case():
    missing = GRADIENT_KERNELS - test_gradients.covered_kernels()
    assert not missing, f"no finite-difference case for {sorted(missing)}"
    unknown = test_gradients.covered_kernels() - set(CONTRACT)
    assert not unknown, f"cases for kernels not in the contract: {sorted(unknown)}"


def test_every_kernel_is_checked_against_independent_maths():
    checked = (test_definitions.DEFINITION_COVERED | test_gradients.covered_kernels()
               | SAMPLING)
    missing = set(CONTRACT) - checked
    assert not missing, f"no definition, gradient or sampling test for {sorted(missing)}"
    forwards = {n for n in CONTRACT if n not in GRADIENT_KERNELS}
    assert forwards <= test_definitions.DEFINITION_COVERED, \
        sorted(forwards - test_definitions.DEFINITION_COVERED)


def test_torch_cross_checks_cover_what_torch_has():
    has_torch_op = {n for n, s in CONTRACT.items() if s.family in ("conv", "pool", "recurrent")}
    has_torch_op |= {"dense_forward", "dense_backward", "activation_forward",
                     "activation_backward"}
    missing = has_torch_op - test_torch.TORCH_COVERED
    assert not missing, f"no PyTorch cross-check for {sorted(missing)}"
    assert test_torch.TORCH_COVERED <= set(CONTRACT)


def test_families():
    assert {s.family for s in CONTRACT.values()} == set(FAMILIES)


def test_docs_list_the_whole_contract():
    text = DOCS.read_text()
    for name in CONTRACT:
        assert f"`{name}`" in text, f"docs/kernels.md does not mention {name}"
    stale = [row for row in contract_rows() if row not in text]
    assert not stale, ("docs/kernels.md's table is out of date with CONTRACT; regenerate it "
                       "with `python -m tests.kernels.test_coverage`. Stale rows:\n"
                       + "\n".join(stale))


if __name__ == "__main__":
    print(render_table())
