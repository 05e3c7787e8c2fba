"""``diagram(spec)``: what each architecture's drawing shows, and bad input."""

from __future__ import annotations

import pytest

from rnn_oracle import OracleError
from rnn_oracle.architectures import NetworkSpec, diagram
from rnn_oracle.architectures._diagram import redraw, spec_from_marker
from rnn_oracle.architectures.spec import ARCHITECTURES

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("cell", ["tanh", "gru", "lstm"])
def test_every_block_gets_a_row(architecture: str, cell: str) -> None:
    spec = NetworkSpec(architecture, cell)  # type: ignore[arg-type]
    text = diagram(spec)
    assert text.splitlines()[0].startswith(spec.label)
    if architecture != "encoder_decoder":
        for block in spec.blocks():
            assert block.prefix.rstrip(".") in text, block.prefix
    assert ("(h,c)" in text) == (cell == "lstm")


def test_what_each_architecture_shows() -> None:
    assert "h_0  -->  h_1" in diagram(NetworkSpec())
    last_only = diagram(NetworkSpec("many_to_one")).splitlines()[2]
    assert last_only.split()[-1] == "ŷ_3" and "ŷ_1" not in last_only
    assert "x_1       ŷ_1       ŷ_2" in diagram(
        NetworkSpec("one_to_many", n_x=3, n_y=3, feedback="output"))
    assert "x_1       h_1       h_2" in diagram(
        NetworkSpec("one_to_many", n_x=4, n_h=4, feedback="hidden"))
    assert "h_3  ==>  s_1" in diagram(NetworkSpec("encoder_decoder"))
    bi = diagram(NetworkSpec("bidirectional"))
    backward_row = next(line for line in bi.splitlines() if line.startswith("layer0.backward"))
    assert backward_row.split()[2:] == ["←h_1", "<--", "←h_2", "<--", "←h_3", "<--", "h_0"]
    assert "[→h_t; ←h_t]" in bi
    deep = diagram(NetworkSpec("deep_bidirectional", n_layers=3))
    assert "layer2.backward" in deep and "layer3" not in deep
    assert "g_1" in diagram(NetworkSpec(head="none"))
    assert diagram(NetworkSpec(), steps=5).splitlines()[1].split()[-1] == "t=5"


def test_redraw_fills_marked_blocks_only() -> None:
    page = "intro\n<!-- diagram: architecture=stacked cell=gru -->\n```text\nstale\n```\nend\n"
    out = redraw(page)
    assert "stale" not in out and "layer1.forward  gru" in out
    assert redraw(out) == out
    assert spec_from_marker("architecture=stacked n_layers=3").layers == 3


def test_bad_input_names_the_parameter() -> None:
    with pytest.raises(OracleError, match="diagram: spec"):
        diagram("stacked")  # type: ignore[arg-type]
    with pytest.raises(OracleError, match="diagram: steps"):
        diagram(NetworkSpec(), steps=1)
    with pytest.raises(OracleError, match="key=value"):
        spec_from_marker("stacked")
    with pytest.raises(OracleError, match=r"NetworkSpec\.cell"):
        spec_from_marker("cell=rnn")
    with pytest.raises(OracleError, match="diagram marker"):
        spec_from_marker("colour=red")
