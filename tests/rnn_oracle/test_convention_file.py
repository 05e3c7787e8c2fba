"""Reading convention files and inline JSON: tables typed, errors naming file and key."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import rnn_oracle as ro
from rnn_oracle._convention_file import convention_table, read_convention_file

TOML = '''
name = "mine"
vectors = "row"
sequence_layout = "batch_major"
absent = ["b_y"]

[params]
Wx = "W_xh.T"

[spec]
cell = "relu"
n_h = 6
initial_state = { h = "given", c = "zero" }
'''


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
def test_a_toml_file_is_read_with_its_types(tmp_path: Path) -> None:
    path = tmp_path / "conv.toml"
    path.write_text(TOML)
    table = read_convention_file(path, "--convention-file")
    assert table.convention == {"params": {"Wx": "W_xh.T"}, "name": "mine", "vectors": "row",
                                "sequence_layout": "batch_major", "absent": ("b_y",)}
    assert table.spec == {"cell": "relu", "n_h": 6,
                          "initial_state": {"h": "given", "c": "zero"}}
    assert table.where == str(path)


def test_a_flat_mapping_is_the_params_table() -> None:
    table = convention_table({"Wx": "W_xh.T", "b": "b_h"}, "--convention")
    assert table.convention == {"params": {"Wx": "W_xh.T", "b": "b_h"}} and table.spec == {}


def test_a_spec_only_table_has_no_convention() -> None:
    table = convention_table({"spec": {"architecture": "stacked"}}, "f.json")
    assert table.convention == {} and table.spec == {"architecture": "stacked"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "f.json: expected a table of convention fields"),
        ({}, "f.json: expected a mapping of names"),
        ({"Wx": 3}, "f.json: 'Wx': expected a name such as \"W_xh.T\" (a string), got int 3"),
        ({"Wx": "W_xh.T", "vectors": "row"}, "convention field(s) vectors but no 'params'"),
        ({"params": {"Wx": "W_xh.T"}, "layout": "x"}, "f.json: unknown key(s) layout"),
        ({"params": {"Wx": ["W_xh"]}}, "f.json: params: 'Wx': expected a name"),
        ({"params": {"Wx": "W_xh.T"}, "absent": "b_y"}, "f.json: absent: expected a list"),
        ({"params": {"Wx": "W_xh.T"}, "vectors": 1}, "f.json: vectors: expected a string"),
        ({"params": {"a": "W_hh"}, "spec": {"n_h": "6"}}, "f.json: spec.n_h: expected an int"),
        ({"params": {"a": "W_hh"}, "spec": {"n_h": True}}, "spec.n_h: expected an integer"),
        ({"params": {"a": "W_hh"}, "spec": {"hidden": 6}}, "spec: unknown key(s) hidden"),
        ({"params": {"a": "W_hh"}, "spec": {"initial_state": {"h": 0}}},
         "spec.initial_state: 'h': expected a name"),
        ({"params": {"a": "W_hh"}, "spec": []}, "f.json: spec: expected a table"),
    ],
)
def test_bad_tables_name_the_source_and_key(data: object, message: str) -> None:
    with pytest.raises(ro.OracleError) as info:
        convention_table(data, "f.json")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("c.json", "{nope", "not valid JSON"),
        ("c.toml", "params = [", "not valid TOML"),
        ("c.yaml", "a: b", "expected a .toml or .json file, got '.yaml'"),
    ],
)
def test_bad_files_are_named(tmp_path: Path, name: str, text: str, message: str) -> None:
    if name.endswith(".toml") and sys.version_info < (3, 11):
        pytest.skip("tomllib is Python 3.11+")
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ro.OracleError, match="--convention-file") as info:
        read_convention_file(path, "--convention-file")
    assert message in str(info.value) and name in str(info.value)
    with pytest.raises(ro.OracleError, match="no such file"):
        read_convention_file(tmp_path / "absent.json", "--convention-file")
