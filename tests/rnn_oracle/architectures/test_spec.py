"""NetworkSpec: every validation error names the field, the choices and what came; the
derived facts (blocks, parameter shapes, state names, label) by hand."""

from __future__ import annotations

import re
from typing import Any

import pytest

from rnn_oracle import OracleError
from rnn_oracle.architectures import ARCHITECTURES, NETWORK_CELLS, Block, NetworkSpec
from rnn_oracle.architectures.spec import FEEDBACKS, INITIAL_STATE_KINDS
from rnn_oracle.spec import HEADS, LOSS_SIGNS, REDUCTIONS

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py

CHOICES = {
    "architecture": ARCHITECTURES,
    "cell": NETWORK_CELLS,
    "head": HEADS,
    "loss_sign": LOSS_SIGNS,
    "time_reduction": REDUCTIONS,
    "batch_reduction": REDUCTIONS,
    "feedback": FEEDBACKS,
    "initial_state": INITIAL_STATE_KINDS,
}


@pytest.mark.parametrize("field", sorted(CHOICES))
def test_a_bad_choice_names_the_field_the_choices_and_what_came(field: str) -> None:
    kwargs: dict[str, Any] = {field: "bogus"}
    with pytest.raises(OracleError) as info:
        NetworkSpec(**kwargs)
    message = str(info.value)
    assert message.startswith(f"NetworkSpec.{field}: expected one of ")
    for choice in CHOICES[field]:
        assert repr(choice) in message
    assert message.endswith("got 'bogus'")


@pytest.mark.parametrize("field", ["n_x", "n_h", "n_y", "n_layers"])
@pytest.mark.parametrize("value", [0, -2, 2.0, True, "3"])
def test_sizes_must_be_positive_integers(field: str, value: Any) -> None:
    kwargs: dict[str, Any] = {field: value}
    if field == "n_layers":
        kwargs["architecture"] = "stacked"
    if field == "n_y":
        kwargs["head"] = "linear_mse"
    with pytest.raises(OracleError, match=re.escape(
            f"NetworkSpec.{field}: expected a positive integer, got {value!r}")):
        NetworkSpec(**kwargs)


@pytest.mark.parametrize("architecture", ["stacked", "deep_bidirectional"])
def test_multi_layer_architectures_need_two_layers(architecture: str) -> None:
    with pytest.raises(OracleError, match=f"NetworkSpec.n_layers: {architecture} needs at "
                                          "least 2 layers, got 1"):
        NetworkSpec(architecture=architecture, n_layers=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("architecture", ["many_to_many", "many_to_one", "one_to_many",
                                          "encoder_decoder", "bidirectional"])
def test_single_layer_architectures_have_one_layer(architecture: str) -> None:
    with pytest.raises(OracleError, match=f"NetworkSpec.n_layers: {architecture} has exactly "
                                          "1 layer, got 3"):
        NetworkSpec(architecture=architecture, n_layers=3)  # type: ignore[arg-type]


def test_softmax_needs_two_classes() -> None:
    with pytest.raises(OracleError, match=r"NetworkSpec\.n_y: softmax cross-entropy needs at "
                                          "least 2 classes, got 1"):
        NetworkSpec(n_y=1)
    assert NetworkSpec(n_y=1, head="linear_mse").n_y == 1


@pytest.mark.parametrize("architecture", [a for a in ARCHITECTURES if a != "one_to_many"])
def test_only_one_to_many_feeds_back(architecture: str) -> None:
    with pytest.raises(OracleError, match=re.escape(
            f"NetworkSpec.feedback: only one_to_many feeds back, got feedback='hidden' with "
            f"architecture={architecture!r}")):
        NetworkSpec(architecture=architecture, feedback="hidden")  # type: ignore[arg-type]


def test_output_feedback_needs_an_output() -> None:
    with pytest.raises(OracleError, match=r"NetworkSpec\.feedback: 'output' feeds ŷ back, but "
                                          "head 'none' has no ŷ"):
        NetworkSpec(architecture="one_to_many", feedback="output", head="none")


@pytest.mark.parametrize(("feedback", "other", "size"), [("output", "n_y", 5),
                                                         ("hidden", "n_h", 6)])
def test_feedback_fixes_the_input_size(feedback: str, other: str, size: int) -> None:
    with pytest.raises(OracleError, match=re.escape(
            f"NetworkSpec.n_x: feedback={feedback!r} feeds a vector of size {other} = {size} "
            f"back as input, so n_x must be {size}, got 2")):
        NetworkSpec(architecture="one_to_many", feedback=feedback, n_x=2, n_y=5, n_h=6)
    spec = NetworkSpec(architecture="one_to_many", feedback=feedback, n_x=size, n_y=5, n_h=6)
    assert spec.feedback == feedback


def test_n_layers_defaults_by_architecture() -> None:
    assert NetworkSpec().n_layers == 1
    assert NetworkSpec(architecture="stacked").n_layers == 2
    assert NetworkSpec(architecture="deep_bidirectional").n_layers == 2
    assert NetworkSpec(architecture="stacked", n_layers=4).layers == 4


def test_blocks_of_every_architecture() -> None:
    def blocks(architecture: str, **kw: Any) -> list[tuple[str, int, str, int]]:
        spec = NetworkSpec(architecture=architecture, n_x=3, n_h=5, **kw)  # type: ignore[arg-type]
        return [(b.prefix, b.layer, b.direction, b.n_in) for b in spec.blocks()]

    single = [("layer0.forward.", 0, "forward", 3)]
    assert blocks("many_to_many") == single
    assert blocks("many_to_one") == single
    assert blocks("one_to_many") == single
    assert blocks("encoder_decoder") == [("encoder.", 0, "forward", 3),
                                         ("decoder.", 0, "forward", 3)]
    assert blocks("stacked", n_layers=3) == [
        ("layer0.forward.", 0, "forward", 3),
        ("layer1.forward.", 1, "forward", 5),
        ("layer2.forward.", 2, "forward", 5),
    ]
    assert blocks("bidirectional") == [("layer0.forward.", 0, "forward", 3),
                                       ("layer0.backward.", 0, "backward", 3)]
    assert blocks("deep_bidirectional") == [
        ("layer0.forward.", 0, "forward", 3),
        ("layer0.backward.", 0, "backward", 3),
        ("layer1.forward.", 1, "forward", 10),
        ("layer1.backward.", 1, "backward", 10),
    ]
    assert all(isinstance(b, Block) for b in NetworkSpec().blocks())


@pytest.mark.parametrize(("cell", "gates"), [("tanh", 1), ("relu", 1), ("gru", 3),
                                             ("lstm", 4)])
def test_parameter_shapes(cell: str, gates: int) -> None:
    spec = NetworkSpec(architecture="bidirectional", cell=cell, n_x=3, n_h=5, n_y=2)
    assert spec.gates == gates
    shapes = spec.param_shapes()
    for direction in ("forward", "backward"):
        p = f"layer0.{direction}."
        assert shapes[p + "W_xh"] == (gates * 5, 3)
        assert shapes[p + "W_hh"] == (gates * 5, 5)
        if cell in ("gru", "lstm"):
            assert shapes[p + "b_xh"] == shapes[p + "b_hh"] == (gates * 5,)
            assert p + "b_h" not in shapes
        else:
            assert shapes[p + "b_h"] == (5,)
            assert p + "b_xh" not in shapes
    assert shapes["W_hy"] == (2, 10)  # the head reads [h_fwd; h_bwd]
    assert shapes["b_y"] == (2,)
    assert spec.param_names == tuple(shapes)
    assert len(shapes) == 2 * (4 if gates > 1 else 3) + 2


def test_head_none_has_no_output_layer() -> None:
    spec = NetworkSpec(head="none", n_h=4)
    assert "W_hy" not in spec.param_shapes() and "b_y" not in spec.param_shapes()
    assert spec.n_top == 4


def test_states_and_data_names() -> None:
    assert NetworkSpec(cell="lstm").state_names == ("h", "c")
    assert NetworkSpec(cell="gru").state_names == ("h",)
    enc_dec = NetworkSpec(architecture="encoder_decoder", cell="lstm")
    # the decoder starts from the encoder's final state: no initial state of its own
    assert enc_dec.initial_state_names() == ("encoder.h0", "encoder.c0")
    assert enc_dec.data_names == ("inputs", "decoder_inputs")
    bi = NetworkSpec(architecture="bidirectional")
    assert bi.initial_state_names() == ("layer0.forward.h0", "layer0.backward.h0")
    assert bi.data_names == ("inputs",)
    assert bi.bidirectional and not NetworkSpec(architecture="stacked").bidirectional


def test_sign_and_n_top() -> None:
    assert NetworkSpec().sign == 1.0
    assert NetworkSpec(loss_sign="negated").sign == -1.0
    assert NetworkSpec(architecture="deep_bidirectional", n_h=3).n_top == 6
    assert NetworkSpec(architecture="stacked", n_h=3).n_top == 3


def test_label() -> None:
    assert NetworkSpec().label == "many_to_many/tanh"
    assert NetworkSpec(architecture="stacked", cell="gru").label == "stacked×2/gru"
    assert NetworkSpec(architecture="deep_bidirectional", n_layers=3,
                       cell="lstm").label == "deep_bidirectional×3/lstm"
    spec = NetworkSpec(architecture="one_to_many", feedback="output", n_x=3, n_y=3)
    assert spec.label == "one_to_many+output/tanh"


def test_replace_revalidates_and_resets_the_layer_count() -> None:
    spec = NetworkSpec(architecture="stacked", n_layers=3)
    assert spec.replace(cell="gru").n_layers == 3
    assert spec.replace(architecture="many_to_one").n_layers == 1
    assert NetworkSpec().replace(architecture="deep_bidirectional").n_layers == 2
    with pytest.raises(OracleError, match=r"NetworkSpec.replace: unknown field\(s\) "
                                          r"\['depth'\]; fields are \['architecture'"):
        spec.replace(depth=2)
    with pytest.raises(OracleError, match=r"NetworkSpec\.cell: "):
        spec.replace(cell="elman")


def test_to_dict_round_trips() -> None:
    spec = NetworkSpec(architecture="one_to_many", feedback="hidden", n_x=4, n_h=4,
                       loss_sign="negated", time_reduction="mean")
    assert NetworkSpec(**spec.to_dict()) == spec


def test_initial_state_per_state() -> None:
    """CS231n's LSTM: h0 given, c0 zero. One kind for all states reads as that kind; a
    mapping names every state the cell carries, or it is refused naming what is missing."""
    spec = NetworkSpec(cell="lstm", initial_state={"h": "given", "c": "zero"})
    assert (spec.state_kind("h"), spec.state_kind("c")) == ("given", "zero")
    assert spec.initial_kind("layer0.forward.c0") == "zero"
    assert spec.required_initial_states() == ("layer0.forward.h0",)
    assert NetworkSpec(cell="lstm", initial_state={"h": "fixed", "c": "fixed"}).initial_state \
        == "fixed"
    assert NetworkSpec(**spec.to_dict()) == spec
    assert hash(spec) == hash(NetworkSpec(cell="lstm", initial_state={"c": "zero", "h": "given"}))
    learned = NetworkSpec(architecture="stacked", cell="gru", initial_state="learned")
    assert learned.required_initial_states() == ("layer0.forward.h0", "layer1.forward.h0")
    assert NetworkSpec(initial_state="zero").required_initial_states() == ()
    with pytest.raises(OracleError, match=r"initial_state: a lstm block carries the states "
                                          r"\['h', 'c'\]; .*missing \['c'\]"):
        NetworkSpec(cell="lstm", initial_state={"h": "given"})
    with pytest.raises(OracleError, match=r"missing \[\], unknown \['c'\]"):
        NetworkSpec(cell="gru", initial_state={"h": "given", "c": "zero"})
    with pytest.raises(OracleError, match=r"initial_state\['c'\]"):
        NetworkSpec(cell="lstm", initial_state={"h": "given", "c": "random"})
    with pytest.raises(OracleError, match=r"expected one of .* or a mapping state -> kind, "
                                          r"got int"):
        NetworkSpec(initial_state=0)  # type: ignore[arg-type]


def test_the_package_exports_load_on_first_use() -> None:
    """``rnn_oracle.architectures`` names its public names once and loads each module when
    a name is first asked for (a check does not load the verify matrix)."""
    import rnn_oracle.architectures as arch

    assert sorted(arch.__all__) == sorted(arch._EXPORTS)
    for name in arch.__all__:
        assert getattr(arch, name) is not None
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        arch.nope  # noqa: B018
