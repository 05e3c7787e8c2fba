"""Named parameter conventions: round trips, the formulas as each text writes them, errors."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnn_oracle import OracleError, RNNSpec, make_case, reference
from rnn_oracle.params import PRESETS, ParamConvention, get_convention


def _spec_for(conv: ParamConvention, n_x: int, n_h: int, n_y: int) -> RNNSpec:
    head = "none" if "W_hy" in conv.absent or conv.name == "stats_se_565719" else "softmax_ce"
    return RNNSpec(n_x=n_x, n_h=n_h, n_y=n_y, head=head)


def _canonical(conv: ParamConvention, spec: RNNSpec, seed: int) -> dict[str, np.ndarray]:
    params = dict(make_case(spec, 2, seed=seed).params)
    for name in conv.absent:
        params[name] = np.zeros_like(params[name])
    return params


sizes = st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(2, 5))


@pytest.mark.parametrize("name", list(PRESETS))
@given(sizes=sizes, seed=st.integers(0, 1000))
def test_round_trips_are_bitwise(name: str, sizes: tuple[int, int, int], seed: int) -> None:
    conv = PRESETS[name]
    spec = _spec_for(conv, *sizes)
    canonical = _canonical(conv, spec, seed)
    user = conv.from_canonical(canonical, spec)
    assert {k: v.shape for k, v in user.items()} == conv.user_shapes(spec)
    back = conv.to_canonical(user, spec)
    for k, v in canonical.items():
        assert back[k].tobytes() == v.tobytes() and back[k].shape == v.shape, k
    again = conv.from_canonical(back, spec)
    for k, v in user.items():
        assert again[k].tobytes() == v.tobytes(), k
    # Gradients both ways.
    grads = {k: v * 3.0 for k, v in canonical.items() if k not in conv.absent}
    user_grads = conv.grads_from_canonical(grads, spec)
    back_grads = conv.grads_to_canonical(user_grads, spec)
    for k, v in grads.items():
        assert back_grads[k].tobytes() == v.tobytes(), k


# Each preset's step, written the way its text writes it, on one sample. Row conventions
# take x and h as rows; column ones as columns. Returns (pre-activation, output logits).
def _row(x: np.ndarray) -> np.ndarray:
    return x[None, :]


def _col(x: np.ndarray) -> np.ndarray:
    return x[:, None]


AS_WRITTEN: dict[str, Callable[..., tuple[np.ndarray, np.ndarray | None]]] = {
    "dlbook": lambda p, x, h, hn: (p["b"] + p["W"] @ h + p["U"] @ x, p["c"] + p["V"] @ hn),
    "cs224n": lambda p, x, h, hn: (
        _row(h) @ p["H"] + _row(x) @ p["I"] + p["b1"], _row(hn) @ p["U"] + p["b2"]
    ),
    "stats_se_565719": lambda p, x, h, hn: (p["W_hx"].T @ _col(x) + p["W_hh"].T @ _col(h), None),
    "deeplearning_ai": lambda p, x, h, hn: (
        p["W_aa"] @ _col(h) + p["W_ax"] @ _col(x) + p["b_a"], p["W_ya"] @ _col(hn) + p["b_y"],
    ),
    "vardhan2022": lambda p, x, h, hn: (
        p["W_aa"].T @ _col(h) + p["W_ax"].T @ _col(x) + p["b_a"],
        p["W_ya"].T @ _col(hn) + p["b_y"],
    ),
    "torch": lambda p, x, h, hn: (
        _row(x) @ p["weight_ih_l0"].T + p["bias_ih_l0"] + _row(h) @ p["weight_hh_l0"].T
        + p["bias_hh_l0"],
        _row(hn) @ p["out.weight"].T + p["out.bias"],
    ),
    "keras": lambda p, x, h, hn: (
        _row(x) @ p["kernel"] + _row(h) @ p["recurrent_kernel"] + p["bias"],
        _row(hn) @ p["dense.kernel"] + p["dense.bias"],
    ),
    "flax": lambda p, x, h, hn: (
        _row(x) @ p["i.kernel"] + p["i.bias"] + _row(h) @ p["h.kernel"],
        _row(hn) @ p["out.kernel"] + p["out.bias"],
    ),
    "cs231n": lambda p, x, h, hn: (
        _row(x) @ p["Wx"] + _row(h) @ p["Wh"] + p["b"], _row(hn) @ p["W_vocab"] + p["b_vocab"]
    ),
    "karpathy": lambda p, x, h, hn: (
        p["Wxh"] @ _col(x) + p["Whh"] @ _col(h) + p["bh"], p["Why"] @ _col(hn) + p["by"]
    ),
}


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_compute_the_canonical_network_as_written(name: str) -> None:
    conv = PRESETS[name]
    spec = _spec_for(conv, 3, 4, 5)
    case = make_case(spec.replace(initial_state="given"), 1, seed=2)
    canonical = _canonical(conv, spec, seed=2)
    user = conv.from_canonical(canonical, spec)
    if name == "torch":  # split b_h over both biases, as a trained module would have it
        user["bias_hh_l0"] = np.full_like(user["bias_hh_l0"], 0.25)
        user["bias_ih_l0"] = user["bias_ih_l0"] - 0.25
    p = {k: v for k, v in canonical.items()}
    x, h = case.inputs[0], case.h0
    a = p["W_hh"] @ h + p["W_xh"] @ x + p["b_h"]
    hn = np.tanh(a)
    a_user, o_user = AS_WRITTEN[name](user, x, h, hn)
    assert np.allclose(np.ravel(a_user), a, rtol=1e-14, atol=1e-15)
    if o_user is not None:
        o = p["W_hy"] @ hn + p["b_y"]
        assert np.allclose(np.ravel(o_user), o, rtol=1e-14, atol=1e-15)


def test_torch_biases_sum_and_both_receive_the_gradient() -> None:
    conv = get_convention("torch")
    spec = RNNSpec(n_x=2, n_h=3, n_y=2)
    user = conv.from_canonical(make_case(spec, 2).params, spec)
    assert not np.any(user["bias_hh_l0"])
    user["bias_hh_l0"] = np.array([1.0, 2.0, 3.0])
    canonical = conv.to_canonical(user, spec)
    assert np.array_equal(canonical["b_h"], user["bias_ih_l0"] + user["bias_hh_l0"])
    assert conv.duplicate_groups() == {"b_h": ("bias_ih_l0", "bias_hh_l0")}
    grads = reference(make_case(spec, 3, seed=1)).grads
    ug = conv.grads_from_canonical(grads, spec)
    assert np.array_equal(ug["bias_ih_l0"], grads["b_h"])
    assert np.array_equal(ug["bias_hh_l0"], grads["b_h"])


def test_user_declared_convention() -> None:
    conv = get_convention({"Wx": "W_xh.T", "Wh": "W_hh.T", "b": "b_h"})
    spec = RNNSpec(n_x=3, n_h=4, head="none")
    assert conv.user_shapes(spec) == {"Wx": (3, 4), "Wh": (4, 4), "b": (4,)}
    declared = ParamConvention("mine", {"Wx": "W_xh.T", "Wh": "W_hh.T", "b": "b_h"},
                               vectors="row", sequence_layout="batch_major", bias_shape="row")
    assert declared.user_shapes(spec)["b"] == (1, 4)
    with pytest.raises(OracleError, match=r"names no parameter for canonical \['W_hy', 'b_y'\]"):
        conv.user_shapes(RNNSpec(n_x=3, n_h=4))


def test_data_layouts() -> None:
    seq = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)  # (T, B, n)
    cs = get_convention("cs231n")
    assert cs.sequence_to_user(seq).shape == (3, 2, 4)
    assert np.array_equal(cs.sequence_to_canonical(cs.sequence_to_user(seq)), seq)
    torch_conv = get_convention("torch")
    assert torch_conv.sequence_to_user(seq).shape == (2, 3, 4)
    assert torch_conv.state_to_user(np.zeros((3, 4))).shape == (1, 3, 4)
    assert torch_conv.state_to_canonical(np.zeros((1, 3, 4))).shape == (3, 4)
    karpathy = get_convention("karpathy")
    assert karpathy.state_to_user(np.arange(4.0)).shape == (4, 1)
    assert karpathy.sequence_to_user(np.arange(5.0 * 4).reshape(5, 4)).shape == (5, 4, 1)
    indices = np.array([1, 0, 2])
    assert np.array_equal(karpathy.sequence_to_user(indices), indices)
    with pytest.raises(OracleError, match=r"expects a column \(n_h, 1\), got \(4,\)"):
        karpathy.state_to_canonical(np.zeros(4))
    with pytest.raises(OracleError, match="batch-free"):
        karpathy.state_to_user(np.zeros((2, 4)))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: get_convention("tensorflow"), r"unknown name 'tensorflow'; presets are dlbook"),
        (lambda: get_convention(3), "expected a preset name, a mapping"),
        (lambda: ParamConvention("x", {"W": "W_hz"}), r"'W' maps to 'W_hz'; expected one of"),
        (lambda: ParamConvention("x", {"b": "b_h.T"}), "a bias is a vector"),
        (lambda: ParamConvention("x", {}), "non-empty mapping"),
        (lambda: ParamConvention("x", {"W": "W_hh"}, vectors="diagonal"), "vectors must be"),
        (lambda: ParamConvention("x", {"W": "W_hh"}, absent=("W_hh",)), "absent parameter"),
        (lambda: get_convention("karpathy").canonical_of("Wx"), r"no parameter 'Wx'.*'Wxh'"),
    ],
)
def test_bad_conventions_are_refused_clearly(call: Callable[[], object], message: str) -> None:
    with pytest.raises(OracleError, match=message):
        call()


def test_bad_parameters_state_the_implied_shape() -> None:
    conv = get_convention("cs231n")
    spec = RNNSpec(n_x=3, n_h=4, n_y=5)
    user = conv.from_canonical(make_case(spec, 2).params, spec)
    wrong = {**user, "Wx": np.zeros((4, 3))}
    with pytest.raises(OracleError, match=r"\['Wx'\]: convention 'cs231n' maps it to W_xh\.T, "
                                          r"which implies shape \(3, 4\); got \(4, 3\)"):
        conv.to_canonical(wrong, spec)
    with pytest.raises(OracleError, match=r"missing \['b'\], unexpected \['bias'\]"):
        conv.to_canonical({**{k: v for k, v in user.items() if k != "b"}, "bias": user["b"]},
                          spec)
    seed001 = get_convention("seed001")
    spec_none = spec.replace(head="none")
    with pytest.raises(OracleError, match="has no b_h, so it must be zero"):
        seed001.from_canonical(make_case(spec_none, 2).params, spec_none)


def test_conversions_do_not_alias_or_mutate() -> None:
    conv = get_convention("seed000")
    spec = RNNSpec(n_x=2, n_h=3, n_y=2)
    canonical = {k: np.array(v) for k, v in make_case(spec, 2).params.items()}
    before = {k: v.copy() for k, v in canonical.items()}
    user = conv.from_canonical(canonical, spec)
    user["H"][0, 0] = 123.0
    assert all(np.array_equal(canonical[k], before[k]) for k in canonical)


def test_aliases_name_the_presets_of_the_docs_worked_examples() -> None:
    assert get_convention("seed000") is PRESETS["cs224n"]
    assert get_convention("seed001") is PRESETS["stats_se_565719"]
    assert get_convention("seed003") is PRESETS["vardhan2022"]
    # deeplearning.ai writes W_ax (n_a, n_x): the canonical W_xh itself, not its transpose.
    assert PRESETS["deeplearning_ai"].canonical_of("W_ax") == ("W_xh", False)
    assert PRESETS["vardhan2022"].canonical_of("W_ax") == ("W_xh", True)
    with pytest.raises(OracleError, match=r"unknown name 'seed002'.*aliases seed000=cs224n"):
        get_convention("seed002")
