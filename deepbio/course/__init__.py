"""A course track: exercises in which a student writes one kernel or one step of an
algorithm from its formula, and a grader that checks it against deepbio's own code.

Each exercise (:data:`EXERCISES`, listed by ``deepbio course list``) has a statement
(the formula, the shapes, the signature to write, the edge cases checked), a starter
template (:func:`start`, ``deepbio course start EXERCISE [PATH]``) and a grader
(:func:`check`, ``deepbio course check EXERCISE PATH``).  The grader compares the
solution with the NumPy reference kernels (:mod:`deepbio._kernels.reference`),
:class:`deepbio.nn.Network` and :func:`deepbio.optim.hf.conjugate_gradient` -- never with
a second copy of the maths -- on random inputs with fixed seeds: output count, shapes,
dtypes, values, finite-difference gradients where the exercise is a derivative, and edge
cases (batch 1, odd sizes, float32 and float64, zero inputs).  Guide: ``docs/course.md``.
"""
import os

from ..io import write_atomic
from ._exercises import EXERCISES, Exercise
from ._grader import Check, Result, SolutionError, load_solution

__all__ = ["EXERCISES", "Exercise", "Check", "Result", "exercises", "get", "start", "check"]


def exercises():
    """The exercise names, in course order."""
    return list(EXERCISES)


def get(exercise):
    """The :class:`Exercise` called ``exercise`` (ValueError naming the choices if none)."""
    if isinstance(exercise, Exercise):
        return exercise
    if exercise not in EXERCISES:
        raise ValueError(f"exercise must be one of {', '.join(EXERCISES)}; got "
                         f"{exercise!r}")
    return EXERCISES[exercise]


def start(exercise, path=None, force=False):
    """Write the starter template of ``exercise`` to ``path`` (default
    ``./EXERCISE.py``; a directory gets ``EXERCISE.py`` inside it) and return the path.

    The file is written atomically (:func:`deepbio.io.write_atomic`); an existing file
    is never overwritten unless ``force`` (FileExistsError otherwise).
    """
    ex = get(exercise)
    path = os.fspath(path) if path is not None else f"{ex.name}.py"
    if os.path.isdir(path):
        path = os.path.join(path, f"{ex.name}.py")
    if os.path.lexists(path) and not force:
        raise FileExistsError(f"{path} already exists; pass force=True (--force) to "
                              f"overwrite it")
    write_atomic(path, ex.template(os.path.basename(path)).encode("utf-8"),
                 action=f"write the {ex.name} template")
    return path


def check(exercise, solution):
    """Grade ``solution`` for ``exercise``: a :class:`Result` with one :class:`Check` per
    case (``result.passed``, ``result.failed``, ``print(result)`` for the report).

    ``solution`` is a callable with the exercise's signature, or the path of a Python
    file defining a function named as the exercise.  A file that cannot be imported or
    lacks the function gives a Result with one failed ``"load solution"`` check.
    """
    ex = get(exercise)
    source = getattr(solution, "__name__", None) if callable(solution) \
        else os.fspath(solution)
    result = Result(ex.name, str(source))
    try:
        fn = load_solution(solution, ex.name)
    except SolutionError as e:
        result.checks.append(Check("load solution", False, str(e),
                                   f"the file must define def {ex.signature}: ... "
                                   f"(deepbio course start {ex.name} writes a template)"))
        return result
    result.checks.extend(ex.grade(fn))
    return result
