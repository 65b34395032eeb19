"""The threshold search as a :class:`mobo.Problem`.

Inputs: a threshold vector ``T`` in ``[0, 1]^(L-1)``. Objectives (both maximized, mobo's
convention): accuracy on the cached validation split, and minus the energy ratio (mean
energy per input over the full pretrained network's). Reports show the energy ratio.

Reference point (documented, and overridable): ``(acc_0 - 0.01, -1)``, where ``acc_0`` is
the accuracy when every input exits at level 1 (``T = 0``, the cheapest end of the front)
and ``1`` the energy of the full pretrained network: a user deploys a LEANet only if it
costs less than the network it replaces, and accepts any accuracy down to the cheapest
exit's. (Before, the energy coordinate was the cost of running every level, 1.4-3x the
full network's, so most of the box lay where no user goes and hypervolume barely told the
energy side of fronts apart.) The box then spans only a few validation images of accuracy
(3-39 on 12 of the study's networks), so the front's most accurate image alone holds 2-33% of
the reference hypervolume (``benchmarks/results/front_top.md``): read small hypervolume
gaps on small validation sets as a count of images.

Search space. Confidences pile up just below 1 (a level's median can be 0.99999), so in
``T`` itself most of the cube gives the same objectives. Algorithms search instead in
``u = -log10(1 - T (1 - 10^-k)) / k`` per coordinate (``k = LOG_DECADES``), which spreads
``1 - T`` evenly over ``k`` decades and keeps both ends exact (``u = 1`` is ``T = 1``,
level off). Only the algorithms' unit cube is warped (:meth:`to_unit`, :meth:`from_unit`):
users, journals and artifacts see thresholds ``T``. ``space="linear"`` searches ``T``.
Measured on the study's 18 LEANets at 25 evaluations (``benchmarks/results/threshold_search.md``):
Sobol reaches a median 0.845 of the reference hypervolume in ``T``, 0.953 / 0.945 / 0.906
over 2 / 4 / 6 decades, 0.882 in per-level confidence quantiles; qLogNEHVI 0.895 in ``T``,
0.972 over 2 decades, 0.927 over 4.

Plateaus. Threshold vectors under which every input exits where it did under an evaluated
one give the same metrics; :meth:`outcome_keys` tells the algorithms so, and they spend no
evaluation there (in ``T``, Sobol spent a third of its 25 on repeats).

Surrogate. Far from its data a GP with a fitted constant mean predicts the average outcome
with a large variance, so unexplored corners of the cube look promising; on these step-like
objectives the GP-based algorithms then spend proposals there. The problem asks for the GP
mean fixed at the worst observation (``surrogate_options``, :class:`mobo.surrogate.Surrogate`
``prior_mean="worst"``): measured on the 18 LEANets x 5 seeds at 25 evaluations, qLogNEHVI
reaches a median 0.973 of the reference hypervolume against 0.966 with the fitted mean
(Sobol 0.959; ``benchmarks/results/prior_mean.md``). A user's ``surrogate=`` overrides it.

Constraints are mobo black-box constraints ``c(metrics) <= 0`` (feasible), e.g. an accuracy
floor ``0.97 - accuracy``: they are evaluated with the objectives and journaled, so the
optimizer models them (``mesmoc``, ``qlognehvi``, ``nsga2``) and an infeasible vector counts
as an observation, not a failure; only feasible vectors enter the Pareto set.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

import torch
from torch import Tensor

import mobo
from leanet.evaluator import ThresholdEvaluator, ThresholdMetrics, exit_levels
from leanet.reference_front import reference_front
from mobo import Problem, hypervolume
from mobo.problem import plain_number

#: A constraint: the metrics of ``B`` vectors -> ``B`` constraint values (``<= 0`` feasible).
Constraint = Callable[[ThresholdMetrics], Tensor]

#: Margin of the reference point's accuracy below the cheapest exit's.
REF_MARGIN = 0.01
#: Decades of ``1 - T`` that the log search space spreads evenly (see the module docstring):
#: of 2, 4 and 6, 2 gave Sobol and qLogNEHVI the highest median hypervolume on the study's
#: LEANets (benchmarks/results/threshold_search.md).
LOG_DECADES = 2.0
#: The most decades allowed: float64 resolves 1 - T to about 1e-16, so at 15 decades every
#: u above 0.99 was T = 1; at 12 the top decade still holds distinct thresholds.
MAX_LOG_DECADES = 12
SPACES = ("log", "linear", "quantile")


class ThresholdProblem(Problem):
    """Choose LEANet thresholds: maximize accuracy, minimize energy.

    Args:
        evaluator: The cached :class:`~leanet.evaluator.ThresholdEvaluator`.
        ref_point: Override the documented reference point (accuracy, -energy ratio).
        space: Where algorithms search: ``"log"`` (default, log-spaced ``1 - T``) or
            ``"linear"`` (``T`` itself) or ``"quantile"`` (per level, the rank among the
            distinct validation confidences). Inputs and results are thresholds ``T``.
        log_decades: Decades of ``1 - T`` the log space spreads evenly (``k`` above).
        reference: Compute the reference front by dense search and set ``max_hv`` to its
            hypervolume (``reference_samples`` samples per search), so studies report
            how close they come to the best reachable front.
        reference_samples: Samples per dense search for the reference front.
        constraints: Black-box constraints: callables ``metrics -> B`` float tensor of
            constraint values, feasible where ``<= 0`` (e.g. ``lambda m: 0.97 - m.accuracy``
            for an accuracy floor), as a mapping from a name to the callable or a list
            (named ``c0, c1, ...``). With constraints, ``max_hv`` is not set: the dense
            reference front is of the unconstrained problem, so it is computed only when
            :attr:`reference` is first read.
        progress: Show the reference front's progress bar (on a terminal only).
    """

    #: The GP's mean fixed at the worst observation (see the module docstring).
    surrogate_options = MappingProxyType({"prior_mean": "worst"})

    def __init__(
        self,
        evaluator: ThresholdEvaluator,
        *,
        ref_point: Tensor | None = None,
        space: str = "log",
        log_decades: float = LOG_DECADES,
        reference: bool = True,
        reference_samples: int = 50_000,
        constraints: Mapping[str, Constraint] | Sequence[Constraint] | None = None,
        progress: bool = True,
    ) -> None:
        if constraints is None:
            constraints = {}
        elif not isinstance(constraints, Mapping):
            constraints = {f"c{i}": c for i, c in enumerate(constraints)}
        for name, constraint in constraints.items():
            if not callable(constraint):
                raise TypeError(
                    f"constraints[{name!r}] must be a callable metrics -> constraint values, "
                    f"got {type(constraint).__name__}"
                )
        if space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, got {space!r}")
        log_decades = plain_number(log_decades)
        if isinstance(log_decades, bool) or not isinstance(log_decades, (int, float)):
            raise TypeError(f"log_decades must be a number, got {type(log_decades).__name__}")
        if not 0 < log_decades <= MAX_LOG_DECADES:
            raise ValueError(f"log_decades must be in (0, {MAX_LOG_DECADES}], got {log_decades!r}")
        d = evaluator.num_levels - 1
        if ref_point is None:
            cheapest = evaluator.evaluate(torch.zeros(d, dtype=torch.float64))
            if float(cheapest.energy_ratio[0]) >= 1.0:
                raise ValueError(
                    "the default reference point bounds energy by the full network's, and even "
                    f"the cheapest exit (every input at level 1) costs "
                    f"{float(cheapest.energy_ratio[0]):.3g}x of it: this LEANet cannot save "
                    "energy; pass ref_point=(accuracy, -energy ratio) to search it anyway"
                )
            ref_point = torch.tensor(
                [float(cheapest.accuracy[0]) - REF_MARGIN, -1.0], dtype=torch.float64
            )
        self.space, self.log_decades = space, float(log_decades)
        self._knots = _quantile_knots(evaluator.confidence[:d]) if space == "quantile" else None
        self.evaluator = evaluator
        self.constraints = dict(constraints)
        self._reference = None
        self._reference_options = None
        if reference:
            self._reference_options = {
                "n_samples": reference_samples,
                "ref_point": ref_point,
                "progress": progress,
            }
        max_hv = None
        if reference and not self.constraints:
            max_hv = hypervolume(self.reference.objectives(), torch.as_tensor(ref_point))
        super().__init__(
            torch.stack([torch.zeros(d), torch.ones(d)]).double(),
            2,
            ref_point,
            max_hv=max_hv,
            objective_names=["accuracy", "energy ratio"],
            senses=["max", "min"],
            name=f"LEANetThresholds(L={evaluator.num_levels}, space={self.space_name})",
            num_constraints=len(self.constraints),
            constraint_names=list(self.constraints),
        )

    @property
    def reference(self) -> ThresholdMetrics | None:
        """The dense reference front of the unconstrained problem
        (:func:`leanet.reference_front.reference_front`), None with ``reference=False``.
        Computed when first read: at construction unless constraints leave ``max_hv`` unset
        (seconds at a thousand validation inputs, tens of seconds at a few thousand)."""
        if self._reference is None and self._reference_options is not None:
            self._reference = reference_front(self.evaluator, **self._reference_options)
        return None if self._reference is None else self._reference[0]

    @property
    def reference_check(self) -> dict[str, float] | None:
        """The reference front's check: its two searches' hypervolume ratios to their union."""
        return None if self.reference is None else self._reference[1]

    def _evaluate(self, X: Tensor) -> Tensor:
        metrics = self.evaluator.evaluate(X.clamp(0.0, 1.0))
        columns = [metrics.objectives()]
        for name, constraint in self.constraints.items():
            values = torch.as_tensor(constraint(metrics))
            if values.dtype == torch.bool or values.shape != (X.shape[0],):
                raise TypeError(
                    f"constraint {name!r} must return a float tensor of {X.shape[0]} "
                    f"constraint values (<= 0 feasible, e.g. 0.97 - m.accuracy), got "
                    f"{values.dtype} of shape {tuple(values.shape)}"
                )
            columns.append(values.to(torch.float64).unsqueeze(-1))
        return torch.cat(columns, dim=-1)

    @property
    def space_name(self) -> str:
        """``"linear"``, or ``"log<k>"`` with the decades of the log space."""
        return f"log{self.log_decades:g}" if self.space == "log" else self.space

    def to_unit(self, X: Tensor) -> Tensor:
        """Thresholds ``T`` -> the algorithms' unit cube (log-spaced ``1 - T`` by default)."""
        if self.space == "linear":
            return super().to_unit(X)
        if self.space == "quantile":
            return torch.stack(
                [_interp(X[:, i], t, u) for i, (t, u) in enumerate(self._knots)], dim=-1
            )
        return thresholds_to_log_unit(X, self.log_decades)

    def from_unit(self, U: Tensor) -> Tensor:
        """The inverse of :meth:`to_unit`: exact at both ends (``U = 1`` is ``T = 1``)."""
        if self.space == "linear":
            return super().from_unit(U)
        if self.space == "quantile":
            return torch.stack(
                [_interp(U[:, i], u, t) for i, (t, u) in enumerate(self._knots)], dim=-1
            )
        return log_unit_to_thresholds(U, self.log_decades)

    #: Bump whenever fingerprint() computes differently (see mobo.Problem). 2: the heads'
    #: costs (an off level read by the next runs without its head, charged less).
    fingerprint_version = 2

    def fingerprint(self) -> str:
        """A digest of the cached records, the exit costs (heads apart, when split) and the
        constraints: a journal made on another network, data split, energy platform or
        constraint (e.g. another accuracy floor) is refused, not resumed with stale values.
        Constraints are callables, so their values at 32 fixed threshold vectors stand for
        them."""
        ev = self.evaluator
        digest = hashlib.blake2b(digest_size=16)
        for tensor in (ev.confidence, ev.correct, ev.exit_cost):
            digest.update(tensor.contiguous().numpy().tobytes())
        digest.update(repr((ev.full_cost, ev.standalone, sorted(self.constraints))).encode())
        if ev.head_cost is not None:  # heads charged apart: another energy objective
            digest.update(ev.head_cost.contiguous().numpy().tobytes())
        if self.constraints:
            engine = torch.quasirandom.SobolEngine(self.dim, scramble=True, seed=0)
            probes = ev.evaluate(engine.draw(32, dtype=torch.float64))
            for name in sorted(self.constraints):
                values = torch.as_tensor(self.constraints[name](probes), dtype=torch.float64)
                digest.update(values.contiguous().numpy().tobytes())
        return digest.hexdigest()

    def outcome_keys(self, X: Tensor) -> list[bytes]:
        """Per threshold vector, a digest of where every validation input exits and which
        levels are off (``T_i = 1``, which changes what is run): vectors with equal keys
        have equal metrics, so no algorithm spends an evaluation on a plateau it has
        measured (30% of the threshold cube can be one plateau). Constraints are assumed
        to be functions of the metrics' accuracy, energy and exits, not of ``T`` itself."""
        X = torch.as_tensor(X, dtype=torch.float64).reshape(-1, self.dim)
        levels = exit_levels(self.evaluator.confidence, X).to(torch.uint8).numpy()
        off = (X >= 1.0).numpy()
        return [
            hashlib.blake2b(row.tobytes() + flags.tobytes(), digest_size=16).digest()
            for row, flags in zip(levels, off, strict=True)
        ]

    def metrics(self, X: Tensor) -> ThresholdMetrics:
        """Full metrics (with the exit histogram) of threshold vectors ``X`` (``B x (L-1)``)."""
        return self.evaluator.evaluate(X)

    def deployable_front(self, X: Tensor) -> ThresholdMetrics:
        """The Pareto front of ``X`` together with every threshold at 1.0 (only the top
        level answers; for the hybrid scheme, the pretrained network alone at its own cost),
        thresholds moved off the observed confidences (:meth:`ThresholdEvaluator.
        between_confidences`). The all-ones vector stays on the front unless a point at
        least as accurate on validation costs less, so the front always holds a point as
        accurate on validation as the network the LEANet replaces, unless it breaks one of
        the problem's constraints (an energy budget the network alone exceeds): then it is
        not added, since no deployment may pick it. That vector costs one cached
        evaluation, not an optimizer's; optimizers' hypervolumes are measured without it.
        The rows of ``X`` are kept as given (a study's Pareto set is feasible already)."""
        top_only = torch.ones(1, self.dim, dtype=torch.float64)
        if self.constraints:
            _, constraints = self.split_outcomes(self._evaluate(top_only))
            top_only = top_only[(constraints <= 0).all(-1)]
        X = torch.as_tensor(X, dtype=torch.float64).reshape(-1, self.dim)
        # off the observed confidences, so the device's runtime exits as the table says
        return self.metrics(self.evaluator.between_confidences(torch.cat([X, top_only]))).pareto()


def search_thresholds(
    evaluator: ThresholdEvaluator,
    journal: Path,
    *,
    algorithm: str,
    n_evals: int,
    seed: int,
    space: str = "log",
    progress: bool = True,
    n_initial: int | None = None,
    set_aside_older: bool = False,
) -> tuple[ThresholdProblem, mobo.Result]:
    """The problem of ``evaluator`` and its study's first ``n_evals`` evaluations, run or
    resumed in ``journal`` (``leanet optimize`` and ``leanet demo`` alike; ``n_initial``:
    the algorithm's initial design, None for its default). ``set_aside_older``: a journal
    an older version priced differently (an older fingerprint version, or none) is renamed,
    kept, and a new study starts; otherwise it is refused (one without a fingerprint resumes
    with a warning, as mobo's); ``leanet demo`` owns its folder and sets it, or a second
    ``make run`` after an upgrade failed; ``leanet optimize`` does not.

    The journal is checked on a problem without the reference front, so a journal of other
    settings is refused before the dense search. One that holds more evaluations (a run
    with a larger ``--n-evals``) is only read, and its first ``n_evals`` are the result: the
    study proposes them in order whatever the budget, so they are what a run of that budget
    makes (reading them all labelled a 16-evaluation front as 12 evaluations' work)."""
    options = {} if n_initial is None else {"n_initial": n_initial}  # journaled as given
    done = None
    cheap = ThresholdProblem(evaluator, space=space, reference=False)
    if set_aside_older and journal.is_file() and journal.stat().st_size:
        _set_aside_if_older(journal, cheap)
    if journal.is_file() and journal.stat().st_size:
        mobo.check_resumable(journal, cheap, algorithm, seed, **options)
        done = mobo.Study.load(journal, cheap, read_only=True)
    note_resume(journal, 0 if done is None else done.n_evaluated, n_evals)
    problem = ThresholdProblem(evaluator, space=space, progress=progress)
    if done is not None and done.n_evaluated > n_evals:
        first = done.evaluations[:n_evals]
        return problem, mobo.Result.from_evaluations(problem, done.algorithm_name, done.seed, first)
    result = mobo.optimize(
        problem,
        algorithm,
        n_evals=n_evals,
        seed=seed,
        journal=journal,
        show_progress=progress,
        **options,
    )
    return problem, result


def _set_aside_if_older(journal: Path, problem: ThresholdProblem) -> None:
    """Rename ``journal`` to ``<name>.v<version>.jsonl`` when it is ``problem``'s journal
    from an older fingerprint version, and say so. Under the journal's lock, so a study still
    writing it is refused as usual instead of losing its file (its next records went to a
    headerless new file); a journal of another problem stays and is checked (and refused)
    as usual. One from before fingerprints (version 0) is set aside too: mobo would resume
    it with only a warning, mixing its older pricing into the new study."""
    writer, header, _ = mobo.journal.Journal.open_writer(journal)
    try:
        spec = header.get("problem")
        if not (isinstance(spec, dict) and spec.get("name") == problem.name):
            return
        # fingerprints before versions: version 1; none at all: older still
        made = spec.get("fingerprint_version", 1) if "fingerprint" in spec else 0
        now = problem.fingerprint_version
        if not (isinstance(made, int) and made < now):
            return
        aside = journal.with_name(f"{journal.stem}.v{made}{journal.suffix}")
        n = 1
        while aside.exists():
            n += 1
            aside = journal.with_name(f"{journal.stem}.v{made}-{n}{journal.suffix}")
        journal.rename(aside)
    finally:
        writer.close()
    print(
        f"leanet: note: {journal} was written by an older version, which prices thresholds "
        f"differently ({f'fingerprint version {made}' if made else 'no fingerprint'}, now "
        f"version {now}); kept as {aside.name}, and a new study starts",
        file=sys.stderr,
    )


def note_resume(journal: Path, done: int, n_evals: int) -> None:
    """Say on stderr that a study goes on from its journal, with ``done`` evaluations in
    it: a rerun after Ctrl-C resumed without a word, and a user who had changed the inputs
    learned it only from a refusal."""
    if done > n_evals:
        print(
            f"leanet: note: {journal} holds {done} evaluations; the first {n_evals} are used "
            f"(--n-evals {n_evals})",
            file=sys.stderr,
        )
    elif done == n_evals:
        print(
            f"leanet: note: {journal} already holds {done} evaluations "
            f"(--n-evals {n_evals}): nothing left to run",
            file=sys.stderr,
        )
    elif done:
        print(
            f"leanet: note: resuming {journal}: {done} of {n_evals} evaluations already done",
            file=sys.stderr,
        )


def thresholds_to_log_unit(T: Tensor, decades: float = LOG_DECADES) -> Tensor:
    """``u = -log10(1 - T (1 - 10^-k)) / k``: thresholds to the log search space (see the
    module docstring), exact at both ends."""
    T = T.clamp(0.0, 1.0)
    span = 1.0 - 10.0**-decades
    # 1 - span is 10^-k only to float64's last bit, which is a part in 10^4 at 12 decades:
    # pin the ends so T = 1 is u = 1 and no u leaves the unit cube.
    U = (-torch.log10(1.0 - T * span) / decades).clamp(0.0, 1.0)
    return torch.where(T == 1.0, torch.ones_like(U), U)


def log_unit_to_thresholds(U: Tensor, decades: float = LOG_DECADES) -> Tensor:
    """The inverse of :func:`thresholds_to_log_unit` (``U = 1`` is ``T = 1``)."""
    span = 1.0 - 10.0**-decades
    return ((1.0 - 10.0 ** (-decades * U.clamp(0.0, 1.0))) / span).clamp(0.0, 1.0)


def _quantile_knots(confidence: Tensor) -> list[tuple[Tensor, Tensor]]:
    """Per level, increasing knots ``(T, u)``: ``T`` runs over 0, the level's distinct
    confidences (the only values where the objectives change; a confidence of exactly 1 is
    taken just below 1, since ``T = 1`` turns the level off) and 1, at evenly spaced ``u``."""
    knots = []
    for row in confidence.double():
        inner = row.clamp(0.0, 1.0 - 1e-12).unique()  # sorted
        t = torch.cat(
            [torch.zeros(1, dtype=torch.float64), inner, torch.ones(1, dtype=torch.float64)]
        )
        t = t.unique()  # 0 or 1 may be a confidence too
        knots.append((t, torch.linspace(0.0, 1.0, len(t), dtype=torch.float64)))
    return knots


def _interp(x: Tensor, xp: Tensor, fp: Tensor) -> Tensor:
    """Piecewise-linear interpolation through increasing knots (``numpy.interp``; torch
    has none)."""
    x = x.to(torch.float64).clamp(float(xp[0]), float(xp[-1]))
    i = torch.searchsorted(xp, x, right=True).clamp(1, len(xp) - 1)
    x0, x1, f0, f1 = xp[i - 1], xp[i], fp[i - 1], fp[i]
    return f0 + (x - x0) / (x1 - x0) * (f1 - f0)
