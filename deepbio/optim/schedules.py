"""Learning-rate schedules: the learning rate of each epoch.

A schedule is called as ``schedule(epoch, base_lr, max_epochs) -> lr`` with ``epoch``
0-based; SGD evaluates it once at the start of every epoch.

=====================  ===============================================================
name                   ``lr(epoch)``
=====================  ===============================================================
``"constant"``         ``base_lr``
``"inverse_scaling"``  ``base_lr / (1 + decay * epoch)``             (decay = 0.1)
``"step"``             ``base_lr * factor ** (epoch // step_size)``  (halve every 10)
``"cosine"``           ``min_lr + (base_lr - min_lr) (1 + cos(pi epoch / max_epochs)) / 2``
                       (min_lr = 0)
callable ``f``         ``f(epoch)``: a plain function of the epoch gives the rate itself
=====================  ===============================================================

Build a schedule with other constants from its class, e.g. ``StepDecay(step_size=5)``.

References
----------
Loshchilov & Hutter (2017), SGDR: stochastic gradient descent with warm restarts
(the cosine schedule).
"""
import math
import numbers

from .._validation import check_int, check_real

__all__ = ["Schedule", "Constant", "InverseScaling", "StepDecay", "Cosine", "FromCallable",
           "SCHEDULES", "get_schedule"]


class Schedule:
    """Base class: ``schedule(epoch, base_lr, max_epochs) -> lr``."""

    def __call__(self, epoch, base_lr, max_epochs):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(vars(self).items()))))


class Constant(Schedule):
    """``lr = base_lr``."""

    def __call__(self, epoch, base_lr, max_epochs):
        return float(base_lr)


class InverseScaling(Schedule):
    """``lr = base_lr / (1 + decay * epoch)``."""

    def __init__(self, decay=0.1):
        self.decay = check_real("decay", decay, 0.0)

    def __call__(self, epoch, base_lr, max_epochs):
        return base_lr / (1.0 + self.decay * epoch)


class StepDecay(Schedule):
    """``lr = base_lr * factor ** (epoch // step_size)``: by default halve every 10 epochs."""

    def __init__(self, step_size=10, factor=0.5):
        self.step_size = check_int("step_size", step_size, 1)
        self.factor = check_real("factor", factor, 0.0, 1.0, low_open=True)

    def __call__(self, epoch, base_lr, max_epochs):
        return base_lr * self.factor ** (epoch // self.step_size)


class Cosine(Schedule):
    """``lr = min_lr + (base_lr - min_lr) (1 + cos(pi * epoch / max_epochs)) / 2``:
    from ``base_lr`` at epoch 0 down towards ``min_lr`` at ``max_epochs``."""

    def __init__(self, min_lr=0.0):
        self.min_lr = check_real("min_lr", min_lr, 0.0)

    def __call__(self, epoch, base_lr, max_epochs):
        c = (1.0 + math.cos(math.pi * epoch / max_epochs)) / 2.0
        return self.min_lr + (base_lr - self.min_lr) * c


class FromCallable(Schedule):
    """Wrap a user function ``f(epoch) -> lr`` (the base rate is ignored)."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, epoch, base_lr, max_epochs):
        lr = self.fn(epoch)
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) \
                or lr < 0:
            raise ValueError(f"the schedule callable must return a finite learning rate >= 0; "
                             f"it returned {lr!r} for epoch {epoch}")
        return float(lr)


SCHEDULES = {"constant": Constant, "inverse_scaling": InverseScaling, "step": StepDecay,
             "cosine": Cosine}


def get_schedule(schedule):
    """A :class:`Schedule` from a name in :data:`SCHEDULES`, a Schedule, or a callable
    ``f(epoch) -> lr``."""
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, str):
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {sorted(SCHEDULES)} or a callable, got "
                             f"{schedule!r}")
        return SCHEDULES[schedule]()
    if callable(schedule):
        return FromCallable(schedule)
    raise ValueError(f"schedule must be one of {sorted(SCHEDULES)} or a callable, got "
                     f"{schedule!r}")
