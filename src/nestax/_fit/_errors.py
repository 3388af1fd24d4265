"""The run-time failure of a training loop: a loss term that stopped being finite."""

from __future__ import annotations

from typing import Any

import numpy as np


def _stopped(error, step, stage, stage_name, stage_step, params, history) -> str:
    """Record where training stopped on ``error``; the words for the parameters it keeps."""
    error.step, error.stage, error.params, error.history = step, stage, params, history
    error.stage_name, error.stage_step = stage_name, stage_step
    return "the initial parameters" if step == 0 else f"the parameters of step {step - 1}"


class NonFiniteLossError(FloatingPointError):
    """A loss term, or the gradient of the loss, became ``nan`` or ``inf`` in :func:`nestax.fit`.

    Training stops at the first step ``k`` (counted from 0 across all stages) whose terms
    ``L_i(θ_k)`` are not all finite, and the error says which term, at which step and in which
    stage; a finite loss whose gradient is not finite stops training the same way. The
    parameters ``θ_{k-1}`` — the last ones whose loss was finite, or the initial
    parameters when step 0 already failed — travel with the error, as does the history of the
    finite steps, so a script can inspect or save them.

    Attributes:
        term: name of the first non-finite term (``"total"`` when only the sum overflowed).
            For a finite loss with a non-finite gradient (``of == "gradient"``), the first term
            whose own gradient is not finite (``"total"`` for a single-term loss, or when only
            the sum of the terms' gradients overflowed).
        of: ``"loss"``, ``"gradient"`` or ``"step"`` (a ``"gauss-newton"`` stage's step, or
            the gradient :math:`J^\top r` it uses): what stopped being finite.
        value: its value (``nan``, ``inf`` or ``-inf``).
        step: global step index ``k``.
        stage: index of the stage in ``stages``; ``stage_name`` and ``stage_step`` (the step
            inside that stage) say the same in words.
        params: the last parameters with a finite loss.
        history: ``dict`` term -> ``np.ndarray`` of the ``k`` finite steps before the failure.

    Example:
        >>> import jax.numpy as jnp, nestax as nx
        >>> loss = lambda p: {"fit": jnp.sum((p - 3.0) ** 2), "log": jnp.log(2.0 - p[0])}
        >>> try:  # the first step jumps to p[0] = 3.5, where log(2 - p[0]) is nan
        ...     nx.fit(loss, jnp.ones(2), [nx.Stage("sgd", 10, learning_rate=0.5)], progress=False)
        ... except nx.NonFiniteLossError as err:
        ...     print(err.term, err.step)
        log 1
    """

    def __init__(
        self,
        *,
        term: str,
        value: float,
        step: int,
        stage: int,
        stage_name: str,
        stage_step: int,
        params: Any,
        history: dict[str, np.ndarray],
        of: str = "loss",
    ) -> None:
        self.term, self.value, self.of = term, value, of
        where = _stopped(self, step, stage, stage_name, stage_step, params, history)
        what = {
            "loss": f"loss term {term!r}",
            "gradient": f"the gradient of loss term {term!r}",
            "step": "the Gauss–Newton step",
        }.get(of, f"loss term {term!r}")
        good = "with a finite loss" if of == "loss" else "from which a step succeeded"
        why = ""
        if of == "step":
            why = (
                " (a singular normal matrix: raise the setting `damping` above 0; or a "
                "non-finite Jacobian)"
            )
        super().__init__(
            f"fit: {what} became {value} at step {step} (stage {stage}, "
            f"{stage_name!r}, its step {stage_step}); training stopped{why}. The last parameters "
            f"{good} ({where}) are in `.params`, the finite history in `.history`."
        )


class StepFailedError(RuntimeError):
    """A training step failed at run time (a solver inside the loss gave up, say).

    A run-time error inside the compiled step — an ODE solve of a :class:`nestax.ude.UDE` built
    with ``on_failure="raise"`` that reaches ``max_steps``, any ``equinox.error_if`` — stops
    training like a non-finite loss does: the error names the step ``k`` and the stage, carries
    the parameters ``θ_{k-1}`` of the last step that succeeded and the history before ``k``, and,
    with a ``checkpoint_dir``, a checkpoint of the state just before step ``k`` is saved.

    Attributes:
        reason: the underlying error's message.
        step, stage, stage_name, stage_step: where training stopped, as in
            :class:`NonFiniteLossError`.
        params: the parameters of the last step that succeeded (the initial ones if step 0
            failed).
        history: ``dict`` term -> ``np.ndarray`` of the ``k`` steps before the failure.
        checkpoint: the path of the checkpoint saved (its JSON file), or ``None``.
    """

    def __init__(
        self,
        *,
        reason: str,
        step: int,
        stage: int,
        stage_name: str,
        stage_step: int,
        params: Any,
        history: dict[str, np.ndarray],
        checkpoint: Any = None,
    ) -> None:
        self.reason, self.checkpoint = reason, checkpoint
        where = _stopped(self, step, stage, stage_name, stage_step, params, history)
        saved = f"; checkpoint {checkpoint}" if checkpoint is not None else ""
        super().__init__(
            f"fit: step {step} failed (stage {stage}, {stage_name!r}, its step {stage_step}): "
            f"{reason}\nTraining stopped. The last parameters from which a step succeeded "
            f"({where}) are in `.params`, the history in `.history`{saved}."
        )
