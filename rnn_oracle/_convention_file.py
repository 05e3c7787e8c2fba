"""Reading a convention for ``rnn-oracle check``: a TOML or JSON file, or inline JSON.

A convention table's keys are exactly :class:`~rnn_oracle.ParamConvention`'s fields —
``params`` (user name → canonical expression such as ``"W_xh.T"``), ``name``,
``vectors``, ``sequence_layout``, ``inputs``, ``bias_shape``, ``state_shape``,
``absent``, ``description`` — plus an optional ``spec`` table with the network's fields
(those of :class:`~rnn_oracle.RNNSpec` and :class:`~rnn_oracle.architectures.NetworkSpec`:
``cell``, ``n_h``, ``architecture``, ``initial_state`` …). A flat object of names
(``{"Wx": "W_xh.T", …}``) is a ``params`` table on its own.

Only the types are checked here, each error naming the file, the key, what was expected
and what came; the values are judged by the dataclasses that take them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnn_oracle.errors import OracleError

#: ParamConvention's fields besides ``params``, each a string but ``absent`` (a list).
CONVENTION_FIELDS: tuple[str, ...] = ("name", "vectors", "sequence_layout", "inputs",
                                      "bias_shape", "state_shape", "absent", "description")
#: The network fields a ``spec`` table may hold (RNNSpec's and NetworkSpec's together).
SPEC_FIELDS: tuple[str, ...] = ("architecture", "cell", "n_x", "n_h", "n_y", "n_layers",
                                "head", "loss_sign", "time_reduction", "batch_reduction",
                                "inputs", "feedback", "initial_state")
_INTEGER_FIELDS = ("n_x", "n_h", "n_y", "n_layers")


@dataclass(frozen=True)
class ConventionTable:
    """What a convention file or inline JSON says, its types checked.

    Attributes:
        where: how to name the source in messages (``conv.toml``, ``--convention``).
        convention: ``params`` and the other ParamConvention fields given (empty when the
            table has only a ``spec``).
        spec: the network fields given in the ``spec`` table.
    """

    where: str
    convention: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)


def read_convention_file(path: Path, option: str) -> ConventionTable:
    """The convention table in a ``.toml`` or ``.json`` file (``option`` names the flag
    that gave it, for messages)."""
    where = f"{option} {str(path)!r}"
    if path.suffix not in (".toml", ".json"):
        raise OracleError(f"{where}: expected a .toml or .json file, got {path.suffix or 'none'!r}")
    if not path.is_file():
        raise OracleError(f"{where}: no such file")
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OracleError(f"{where}: cannot be read ({exc})") from exc
    data: Any
    if path.suffix == ".json":
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise OracleError(f"{where}: not valid JSON ({exc})") from exc
    else:
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            raise OracleError(f"{where}: TOML needs Python 3.11 or newer; use JSON") from None
        try:
            data = tomllib.loads(raw)
        except tomllib.TOMLDecodeError as exc:
            raise OracleError(f"{where}: not valid TOML ({exc})") from exc
    return convention_table(data, str(path))


def read_inline_json(text: str, option: str) -> Any:
    """``--convention '{...}'`` or ``--names '{...}'`` parsed, or an error naming ``option``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise OracleError(f"{option}: not a preset name nor valid JSON ({exc})") from exc


def convention_table(data: Any, where: str) -> ConventionTable:
    """``data`` (parsed JSON or TOML) as a convention table, its types checked."""
    if not isinstance(data, dict):
        raise OracleError(
            f"{where}: expected a table of convention fields (params, vectors, …) or of "
            f"names such as {{\"Wx\": \"W_xh.T\"}}, got {_kind(data)}"
        )
    if "params" not in data and set(data) == {"spec"}:
        # A network function's names are canonical: its file may hold just the network.
        return ConventionTable(where, {}, spec_table(data["spec"], f"{where}: spec"))
    if "params" not in data:
        fields = sorted(k for k in data if k in CONVENTION_FIELDS)
        if fields:
            raise OracleError(
                f"{where}: has the convention field(s) {', '.join(fields)} but no 'params'; "
                "put the mapping of your names to canonical ones under 'params'"
            )
        if not data:
            raise OracleError(f"{where}: expected a mapping of names such as "
                              "{\"Wx\": \"W_xh.T\"}, got an empty one")
        return ConventionTable(where, {"params": names_mapping(data, where)})
    unknown = sorted(set(data) - {"params", "spec", *CONVENTION_FIELDS})
    if unknown:
        raise OracleError(
            f"{where}: unknown key(s) {', '.join(unknown)}; a convention has params, "
            f"{', '.join(CONVENTION_FIELDS)} and an optional spec table"
        )
    convention: dict[str, Any] = {"params": names_mapping(data["params"], f"{where}: params")}
    for key in CONVENTION_FIELDS:
        if key not in data:
            continue
        value = data[key]
        if key == "absent":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise OracleError(
                    f"{where}: absent: expected a list of canonical names such as "
                    f"[\"b_h\"], got {value!r}"
                )
            convention[key] = tuple(value)
        elif not isinstance(value, str):
            raise OracleError(f"{where}: {key}: expected a string, got {_kind(value)} {value!r}")
        else:
            convention[key] = value
    spec = spec_table(data["spec"], f"{where}: spec") if "spec" in data else {}
    return ConventionTable(where, convention, spec)


def names_mapping(data: Any, where: str) -> dict[str, str]:
    """A mapping of names to names (``params``, ``--names``), each key and value a string."""
    if not isinstance(data, dict) or not data:
        raise OracleError(
            f"{where}: expected a non-empty mapping of names such as {{\"Wx\": \"W_xh.T\"}}, "
            f"got {data!r}"
        )
    for key, value in data.items():
        if not isinstance(value, str):
            raise OracleError(
                f"{where}: {key!r}: expected a name such as \"W_xh.T\" (a string), got "
                f"{_kind(value)} {value!r}"
            )
    return dict(data)


def spec_table(data: Any, where: str) -> dict[str, Any]:
    """The ``spec`` table: known network fields, sizes integers, ``initial_state`` a kind
    or a table of state -> kind."""
    if not isinstance(data, dict):
        raise OracleError(f"{where}: expected a table of network fields, got {_kind(data)}")
    unknown = sorted(set(data) - set(SPEC_FIELDS))
    if unknown:
        raise OracleError(
            f"{where}: unknown key(s) {', '.join(unknown)}; the network fields are "
            f"{', '.join(SPEC_FIELDS)}"
        )
    for key, value in data.items():
        if key in _INTEGER_FIELDS:
            if isinstance(value, bool) or not isinstance(value, int):
                raise OracleError(f"{where}.{key}: expected an integer, got {value!r}")
        elif key == "initial_state" and isinstance(value, dict):
            names_mapping(value, f"{where}.initial_state")
        elif not isinstance(value, str):
            raise OracleError(f"{where}.{key}: expected a string, got {_kind(value)} {value!r}")
    return dict(data)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    return "a list" if isinstance(value, list) else type(value).__name__

