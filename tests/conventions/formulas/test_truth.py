"""``check_truth``: true identities pass, wrong ones fail with the edit that makes them true,
and each assumption makes true an identity that is false without it.

Every expected verdict and diagnosis below is derived by hand in the comment beside it
(differentials: ``d(aᵀx) = aᵀ dx`` gives the gradient ``a``, and so on), not read off the
module's output.
"""

from __future__ import annotations

import pytest

from conventions import formulas as fm

# Square matrices where an assumption needs them; X (n × q) for the Cookbook's a X b.
DECLARATIONS = (
    "x: col[n], a: col[n], c: col[n], y: col[n], p: col[n], o: col[n], w: col[n], h: col[n], "
    "b: col[q], X: [n, q], A: [m, n], C: [q, m], "
    "B: [n, n], D: [n, n], Q: [n, n], P: [n, n], Y: [n, n], M: [n, n], E: [n, n], F: [n, n]"
)
N = fm.Notation("truth", fm.parse_declarations(DECLARATIONS))
# A time index the sums bind: a[t], b[t] take one value per step.
STEPS = fm.Notation("steps", fm.parse_declarations("a[t]: col[n], b[t]: col[q], X: [n, q]"))


def truth(text: str, *, layout: str = "denominator", notation: fm.Notation = N,
          assume: dict[str, str] | None = None) -> fm.Truth:
    return fm.check_truth(notation.parse(text, layout=layout), assume=assume, seed=0)


# -- true identities --------------------------------------------------------------------------

TRUE = [
    # d(aᵀx) = aᵀ dx: the gradient (denominator layout, a column) is a.
    ("d(a.T @ x)/d(x) = a", "denominator"),
    # d(xᵀBx) = dxᵀ B x + xᵀ B dx = xᵀ(B + Bᵀ) dx: the gradient is (B + Bᵀ) x.
    ("d(x.T @ B @ x)/d(x) = (B + B.T) @ x", "denominator"),
    # d(aᵀXb) = aᵀ dX b = tr(b aᵀ dX): the gradient, shaped like X, is (b aᵀ)ᵀ = a bᵀ.
    ("d(a.T @ X @ b)/d(X) = a @ b.T", "denominator"),
    # tr(AXC) = tr(CAX): d = tr(CA dX), the gradient (CA)ᵀ = AᵀCᵀ.
    ("d(tr(A @ X @ C))/d(X) = A.T @ C.T", "denominator"),
    # d tr(M²) = tr(dM M + M dM) = 2 tr(M dM): the gradient is 2 Mᵀ.
    ("d(tr(M @ M))/d(M) = 2 * M.T", "denominator"),
    # The Jacobian of x ↦ Bx in numerator layout is B itself.
    ("d(B @ x)/d(x) = B", "numerator"),
    # No derivative: (A X)ᵀ = Xᵀ Aᵀ.
    ("(A @ X).T = X.T @ A.T", "denominator"),
]


@pytest.mark.parametrize(("text", "layout"), TRUE)
def test_true_identities_are_verified(text: str, layout: str) -> None:
    result = truth(text, layout=layout)
    assert result.verdict == "true", result.message
    assert result.passed and bool(result) and result.diagnosis == ""
    assert result.message.startswith("verified (true)")


def test_the_cookbook_identities_in_latex_as_printed() -> None:
    # Matrix Cookbook eq. 81 (denominator layout), and the operator form of eq. 100.
    assert truth(r"\frac{\partial x^T B x}{\partial x} = (B + B^T) x").passed
    assert truth(r"\frac{\partial}{\partial X} \mathrm{Tr}(A X C) = A^T C^T").passed
    # The book's numerator-layout twin: d(xᵀBx)/dx = xᵀ(B + Bᵀ), a row.
    assert truth(r"\frac{\partial x^T B x}{\partial x} = x^T (B + B^T)",
                 layout="numerator").passed


# -- wrong identities and their diagnosis -------------------------------------------------------

WRONG = [
    # d(aᵀYc) = tr(c aᵀ dY): the gradient is a cᵀ, so c aᵀ is its transpose.
    ("d(a.T @ Y @ c)/d(Y) = c @ a.T", "transposed: the right side is the transpose"),
    # The gradient of aᵀx is a, not −a.
    ("d(a.T @ x)/d(x) = -a", "negated: the right side has the wrong sign"),
    # d(xᵀx) = 2 xᵀ dx: the gradient is 2x, so x lacks a factor 2.
    ("d(x.T @ x)/d(x) = x", "missing factor: the statement holds with the right side times 2"),
    # d tr(M²) gives 2 Mᵀ (above): Mᵀ lacks the 2.
    ("d(tr(M @ M))/d(M) = M.T",
     "missing factor: the statement holds with the right side times 2"),
    # E F − B F = (E − B) F, not E − B F: the parentheses were lost.
    ("E @ F - B @ F = E - B @ F", "lost parentheses: it holds as (E - B) @ F"),
    # Seed 002's slip, entrywise: w − h² w = (1 − h²) w, printed 1 − h² w.
    ("w - h**2 * w = 1 - h**2 * w", "lost parentheses: it holds as (1 - h**2) * w"),
    # The gradient of xᵀBx is (B + Bᵀ)x (above), printed with a − (issue 15's wrong identity).
    ("d(x.T @ B @ x)/d(x) = (B - B.T) @ x",
     "sign slip: it holds with + in place of - in B - B.T"),
]


@pytest.mark.parametrize(("text", "diagnosis"), WRONG)
def test_wrong_identities_fail_with_their_diagnosis(text: str, diagnosis: str) -> None:
    result = truth(text)
    assert result.verdict == "false" and not result.passed and not bool(result)
    assert result.error > 1e-3  # a real difference, far above rounding
    assert result.diagnosis.startswith(diagnosis), result.diagnosis
    assert result.message.startswith("FALSE") and diagnosis in result.message


def test_a_dropped_time_sum_is_diagnosed_as_a_missing_sum() -> None:
    # d(Σ_t a_tᵀ X b_t) = Σ_t tr(b_t a_tᵀ dX): the gradient is Σ_t a_t b_tᵀ.
    summed = "d(sum[t](a[t].T @ X @ b[t]))/d(X) = sum[t](a[t] @ b[t].T)"
    assert truth(summed, notation=STEPS).passed
    # The same with the Σ_t dropped on the right (the DL book's eq. 10.26 printed without
    # it): one step's term never equals the sum over every step.
    dropped = truth("d(sum[t](a[t].T @ X @ b[t]))/d(X) = a[t] @ b[t].T", notation=STEPS)
    assert dropped.verdict == "false"
    assert dropped.diagnosis == "missing Σ: it holds summed over t, as sum[t](a[t] @ b[t].T)"
    latex = truth(r"\frac{\partial}{\partial X} \sum_t {a^{(t)}}^\top X b^{(t)} = "
                  r"a^{(t)} {b^{(t)}}^\top", notation=STEPS)
    assert latex.verdict == "false" and latex.diagnosis.startswith("missing Σ")


def test_a_per_step_identity_without_sums_is_checked_as_one_step() -> None:
    # aᵀXb is a scalar, equal to its transpose bᵀXᵀa: true at every step, no Σ involved.
    assert truth("a[t].T @ X @ b[t] = b[t].T @ X.T @ a[t]", notation=STEPS).passed
    # Both sides summed over t: still true.
    assert truth("sum[t](a[t].T @ X @ b[t]) = sum[t](b[t].T @ X.T @ a[t])",
                 notation=STEPS).passed


# -- assumptions: each makes true an identity that is false without it ---------------------------

ASSUMED = [
    # (B + Bᵀ)x = 2Bx exactly when Bᵀ = B.
    ("d(x.T @ B @ x)/d(x) = 2 * B @ x", {"B": "symmetric"}),
    # xᵀDx = Σ_ij D_ij x_i x_j; 1ᵀD(x∘x) = Σ_ij D_ij x_j². They agree when D is diagonal
    # (only i = j terms), not merely symmetric.
    ("x.T @ D @ x = sum(D @ (x * x))", {"D": "diagonal"}),
    # QᵀQ = I defines orthogonality.
    ("Q.T @ Q = eye(n)", {"Q": "orthogonal"}),
    # d(xᵀP⁻¹x) = xᵀ(P⁻¹ + P⁻ᵀ) dx, which is 2P⁻¹x when P (so P⁻¹) is symmetric: the
    # Cookbook's identity for a (symmetric) positive definite P.
    ("d(x.T @ P**-1 @ x)/d(x) = 2 * P**-1 @ x", {"P": "positive definite"}),
    # y ∘ y = y when every entry is 0 or 1.
    ("y * y = y", {"y": "one-hot"}),
    # −pᵀ log softmax(o) = −pᵀo + (1ᵀp) lse(o): the gradient is (1ᵀp) softmax(o) − p, which
    # is softmax(o) − p when p sums to 1.
    ("d(-(p.T @ log(softmax(o))))/d(o) = softmax(o) - p", {"p": "probability"}),
]


@pytest.mark.parametrize(("text", "assume"), ASSUMED)
def test_each_assumption_makes_its_identity_true(text: str, assume: dict[str, str]) -> None:
    without = truth(text)
    assert without.verdict == "false", without.message
    with_it = truth(text, assume=assume)
    assert with_it.verdict == "true", with_it.message
    name, kind = next(iter(assume.items()))
    assert f"under {name} {kind}" in with_it.message


def test_assumptions_are_specific() -> None:
    # A symmetric D is not diagonal: xᵀDx and 1ᵀD(x∘x) still differ off the diagonal.
    assert truth("x.T @ D @ x = sum(D @ (x * x))", assume={"D": "symmetric"}).verdict == "false"
    # A probability vector's entries lie strictly between 0 and 1: y ∘ y ≠ y.
    assert truth("y * y = y", assume={"y": "probability"}).verdict == "false"
    # A one-hot vector sums to 1, so the softmax cross-entropy gradient holds for it too.
    assert truth("d(-(p.T @ log(softmax(o))))/d(o) = softmax(o) - p",
                 assume={"p": "one-hot"}).passed


def test_parse_assumptions_reads_aliases_and_names_a_bad_kind() -> None:
    assert fm.parse_assumptions("B: symmetric; p: probability vector, y: onehot, P: spd") == {
        "B": "symmetric", "p": "probability", "y": "one-hot", "P": "positive definite"}
    assert fm.parse_assumptions("P: pd, D: Diagonal") == {
        "P": "positive definite", "D": "diagonal"}
    for bad in ("B: hermitian", "B", ": symmetric"):
        with pytest.raises(fm.FormulaError, match="expected 'name: kind'"):
            fm.parse_assumptions(bad)


def test_an_assumption_on_an_unknown_or_misshapen_symbol_is_an_error() -> None:
    with pytest.raises(fm.FormulaError, match="'Z' is not a declared symbol"):
        truth("d(a.T @ x)/d(x) = a", assume={"Z": "symmetric"})
    with pytest.raises(fm.FormulaError, match="one-hot is for vectors"):
        truth("B @ x = B @ x", assume={"B": "one-hot"})
    with pytest.raises(fm.FormulaError, match="symmetric is for square matrices"):
        truth("A @ x = A @ x", assume={"A": "symmetric"})


# -- what cannot be judged ---------------------------------------------------------------------


def test_what_is_not_an_equation_is_not_judged() -> None:
    assignment = truth("M := M - 2 * M.T")
    assert assignment.verdict == "not judged" and not assignment.passed
    assert ":= is a definition or a comparison" in assignment.message
    # a is a symbol of its own: its derivative by x is not defined by anything here.
    unrelated = truth("d(a)/d(x) = eye(n)", layout="numerator")
    assert unrelated.verdict == "not judged" and "is a symbol of its own" in unrelated.message


def test_the_draws_are_reproducible_and_the_sizes_reported() -> None:
    first = truth("d(x.T @ x)/d(x) = x")
    again = truth("d(x.T @ x)/d(x) = x")
    assert first.error == again.error and dict(first.sizes) == dict(again.sizes)
    assert set(first.sizes) >= {"n"}
