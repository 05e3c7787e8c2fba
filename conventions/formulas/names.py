"""Symbol names: one text spelling per symbol, and its LaTeX twin.

A text name is ``base[_sub][[time]]``:

=================  ============================  ===========================
text               LaTeX                         meaning
=================  ============================  ===========================
``W_hh``           ``W_{hh}``                    base ``W``, subscript ``hh``
``h[t-1]``         ``h^{(t-1)}``                 time index in parentheses
``yhat[t]``        ``\\hat{y}^{(t)}``             a hat: base ending in ``hat``
``z_1[t]``         ``z_1^{(t)}``                 both
``h_{t+1}``        ``h_{t+1}``                   a subscript that is not a word
``alpha``          ``\\alpha``                    Greek letters by name
``kernel``         ``\\mathrm{kernel}``           a word (LaTeX juxtaposes letters)
``a'``             ``a'``                        a primed symbol
=================  ============================  ===========================
"""

from __future__ import annotations

import re

from .errors import FormulaError

__all__ = ["GREEK", "is_text_name", "latex_name", "make_name", "split_name"]

GREEK: tuple[str, ...] = (
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi",
    "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi",
    "Psi", "Omega",
)

_NAME = re.compile(
    r"(?P<base>[A-Za-z][A-Za-z0-9]*'*)"
    r"(?:_(?P<sub>[A-Za-z0-9_]+|\{[A-Za-z0-9+\-,]+\}))?"
    r"(?:\[(?P<time>[A-Za-z0-9+\-]+)\])?"
)


def is_text_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def split_name(name: str) -> tuple[str, str | None, str | None]:
    """``(base, sub, time)`` of a text name; braces around the subscript removed."""
    match = _NAME.fullmatch(name)
    if match is None:
        raise FormulaError(
            f"symbol name {name!r}: expected base[_sub][[time]], e.g. 'W_hh', 'h[t-1]', "
            "'yhat[t]'"
        )
    sub = match["sub"]
    if sub is not None and sub.startswith("{"):
        sub = sub[1:-1]
    return match["base"], sub, match["time"]


def make_name(base: str, sub: str | None = None, time: str | None = None) -> str:
    """The text name of ``base`` with a subscript and a time index (spaces removed)."""
    name = base
    if sub is not None:
        sub = re.sub(r"\s+", "", sub)
        name += f"_{sub}" if re.fullmatch(r"[A-Za-z0-9_]+", sub) else f"_{{{sub}}}"
    if time is not None:
        name += "[" + re.sub(r"\s+", "", time) + "]"
    if not is_text_name(name):
        raise FormulaError(
            f"symbol name {name!r}: the subscript may hold letters, digits, '_', '+', '-' "
            "and ',', the time index letters, digits, '+' and '-'"
        )
    return name


def _latex_base(base: str) -> str:
    primes = len(base) - len(base.rstrip("'"))
    if primes:
        return _latex_base(base[:-primes]) + "'" * primes
    if base in GREEK:
        return f"\\{base}"
    if len(base) > 3 and base.endswith("hat"):
        return f"\\hat{{{_latex_base(base[:-3])}}}"
    if len(base) == 1:
        return base
    return f"\\mathrm{{{base}}}"


def latex_name(name: str) -> str:
    """The LaTeX spelling of a text name: ``yhat[t]`` → ``\\hat{y}^{(t)}``."""
    base, sub, time = split_name(name)
    out = _latex_base(base)
    if sub is not None:
        escaped = sub.replace("_", "\\_")
        out += f"_{escaped}" if len(escaped) == 1 else f"_{{{escaped}}}"
    if time is not None:
        out += f"^{{({time})}}"
    if out.startswith("\\sigma") and sub is None and time is None:
        # \sigma alone before a bracket is the sigmoid: braces keep the symbol σ (σ').
        out = f"{{{out}}}"
    return out
