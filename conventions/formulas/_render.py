"""Render an AST as LaTeX or as text, with only the parentheses the grammar needs.

``parse(render(f, syntax), syntax) == f`` for every tree the parsers can produce (the
round trip is a property test). LaTeX output uses ``^\\top`` for transposes, ``\\circ``
``\\oslash`` ``\\otimes`` for the entrywise and Kronecker products, juxtaposition for the
matrix product; text output uses ``@``, ``*``, ``/``, ``**``, ``.T`` and ``kron(A, B)``.
"""

from __future__ import annotations

from typing import Literal

from .ast import (
    RELATION_TEXT,
    Add,
    Binary,
    Call,
    Commutation,
    Derivative,
    Differential,
    Equation,
    Expr,
    Frobenius,
    Hadamard,
    HadamardDiv,
    Identity,
    Indexed,
    IndexProduct,
    IndexSum,
    Kron,
    MatMul,
    Neg,
    Num,
    Ones,
    Power,
    Relation,
    Scale,
    Sub,
    Sym,
    Transpose,
)
from .errors import FormulaError
from .names import latex_name, make_name, split_name
from .sizes import Size

__all__ = ["latex", "render", "text"]

# Binding strength: a child printed below its parent's requirement gets parentheses.
FROB, SUM, PROD, UNARY, POWER, POSTFIX, ATOM = 1, 2, 3, 4, 5, 6, 7
DIFF = 4  # "d x": a factor of a product, but no base for a superscript

_LATEX_FUNCS = {"tanh": "\\tanh", "exp": "\\exp", "log": "\\log", "sigmoid": "\\sigma",
                "tanh'": "\\tanh'", "sigmoid'": "\\sigma'"}


def render(expr: Expr, syntax: Literal["latex", "text"] = "latex") -> str:
    """``expr`` as LaTeX (default) or text."""
    if syntax == "latex":
        return latex(expr)
    if syntax == "text":
        return text(expr)
    raise FormulaError(f"syntax: expected 'latex' or 'text', got {syntax!r}")


def _num(value: int | float) -> str:
    if isinstance(value, bool) or value < 0:
        raise FormulaError(f"number {value!r}: literals are non-negative (use Neg)")
    out = repr(value)
    if "e" in out or "inf" in out or "nan" in out:
        raise FormulaError(f"number {value!r}: cannot be written without an exponent")
    return out


# -- text -----------------------------------------------------------------------------------


def _size(size: Size, sep: str) -> str:
    """``size``'s factors joined by ``sep``, its coefficient first unless it is a bare 1."""
    parts = [str(size.coeff)] if size.coeff != 1 or not size.factors else []
    return sep.join(parts + list(size.factors))


def _text_size(size: Size) -> str:
    return _size(size, "*")


def text(expr: Expr) -> str:
    """``expr`` in the Python-like text syntax."""
    return _text(expr)[0]


def _tw(expr: Expr, need: int) -> str:
    out, prec = _text(expr)
    return out if prec >= need else f"({out})"


def _text(e: Expr) -> tuple[str, int]:
    if isinstance(e, Sym):
        return e.name, ATOM
    if isinstance(e, Num):
        return _num(e.value), ATOM
    if isinstance(e, Ones):
        if e.rows is None or e.cols is None:
            return "1", ATOM
        return f"ones({_text_size(e.rows)}, {_text_size(e.cols)})", ATOM
    if isinstance(e, Identity):
        return (f"eye({_text_size(e.size)})" if e.size is not None else "eye()"), ATOM
    if isinstance(e, Commutation):
        return f"K({_text_size(e.m)}, {_text_size(e.n)})", ATOM
    if isinstance(e, Neg):
        return f"-{_tw(e.operand, UNARY)}", UNARY
    if isinstance(e, Transpose):
        return f"{_tw(e.operand, POSTFIX)}.T", POSTFIX
    if isinstance(e, Power):
        return f"{_tw(e.base, POSTFIX)}**{e.exponent}", POWER
    if isinstance(e, Scale):
        return f"{_num(e.factor.value)} * {_tw(e.operand, UNARY)}", PROD
    if isinstance(e, Kron):
        return f"kron({text(e.left)}, {text(e.right)})", ATOM
    if isinstance(e, Call):
        return f"{e.func}({text(e.arg)})", ATOM
    if isinstance(e, Derivative):
        if e.kind == "nabla":
            step = f", {e.step}" if e.step is not None else ""
            return f"grad({text(e.num)}, {text(_copy_den(e))}{step})", ATOM
        at = partial_bar(e)  # a ∂ built with a step shows it: the step is never dropped
        bar = f"|{at}" if at is not None else ""
        return f"d({text(e.num)})/d({text(e.den)}){bar}", ATOM
    if isinstance(e, Equation):
        return f"{text(e.lhs)} = {text(e.rhs)}", 0
    if isinstance(e, Relation):
        return f"{text(e.lhs)} {RELATION_TEXT.get(e.op, e.op)} {text(e.rhs)}", 0
    if isinstance(e, Differential):
        return f"d({text(e.operand)})", ATOM
    if isinstance(e, Indexed):
        return f"elem({text(e.base)}, {', '.join(e.indices)})", ATOM
    if isinstance(e, IndexProduct):
        raise FormulaError("a product over an index range (\\prod) has no text spelling; "
                           "render it as LaTeX")
    if isinstance(e, IndexSum):
        upper = f":{e.upper}" if e.upper is not None else ""
        return f"sum[{e.lower or ''}{upper}]({text(e.body)})", ATOM
    if isinstance(e, (Add, Sub)):
        op = "+" if isinstance(e, Add) else "-"
        return f"{_tw(e.left, SUM)} {op} {_tw(e.right, SUM + 1)}", SUM
    if isinstance(e, Frobenius):
        return f"{_tw(e.left, SUM)} : {_tw(e.right, SUM)}", FROB
    if isinstance(e, (MatMul, Hadamard, HadamardDiv)):
        if isinstance(e, MatMul):
            op = "@"
        elif isinstance(e, Hadamard):
            # "2 * x" would read back as a scaling; ∘ keeps the entrywise product.
            op = "∘" if isinstance(e.left, Num) else "*"
        else:
            op = "/"
        left = _tw(e.left, PROD)
        if op == "/" and _ends_with_differential(left):
            left = f"({left})"  # "d(x) / y" would read as the start of d(x)/d(y)
        return f"{left} {op} {_tw(e.right, UNARY)}", PROD
    raise FormulaError(f"cannot render {type(e).__name__}")  # pragma: no cover


def partial_bar(d: Derivative) -> str | None:
    """The step a derivative is local to, as a ``∂``'s evaluation bar ``|_t``.

    ``∇^{(t)}_θ y`` is the derivative by step ``t``'s copy of ``θ`` (seed 003's
    contribution of step ``t``, the DL book's ``∇_{θ^{(t)}}``), and so is ``∂y/∂θ|_t``:
    written as a ``∂``, in any layout, the ∇'s step is the bar, which the parsers read
    back. A gradient at one step by the copy of another (``∇^{(s)}_{θ^{(t)}}``) has no
    ``∂`` spelling.
    """
    if d.step is None or d.at in (None, d.step):
        return d.at if d.step is None else d.step
    raise FormulaError(
        f"a gradient at step {d.step} by the copy of step {d.at} has no ∂ spelling; keep "
        "it a ∇ (convert it without a layout)"
    )


def _copy_den(e: Derivative) -> Expr:
    """A gradient's denominator, as the DL book's step copy ``W^{(t)}`` when the gradient
    is local to step ``at`` (a ∇ has no evaluation bar)."""
    if e.at is None:
        return e.den
    if not isinstance(e.den, Sym) or split_name(e.den.name)[2] is not None:
        raise FormulaError("a gradient local to a step needs a symbol without a step "
                           "index as its denominator (the book's W^{(t)})")
    base, sub, _ = split_name(e.den.name)
    return Sym(make_name(base, sub, e.at))


def _ends_with_differential(out: str) -> bool:
    """Whether text ends with a differential ``d(...)`` (not a call such as ``grad(...)``)."""
    if not out.endswith(")"):
        return False
    depth = 0
    for k in range(len(out) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(out[k], 0)
        if depth == 0:
            return out[k - 1 : k] == "d" and not (k >= 2 and (out[k - 2].isalnum()
                                                             or out[k - 2] in "_'"))
    return False  # pragma: no cover - rendered text is balanced


# -- LaTeX ----------------------------------------------------------------------------------


def _latex_size(size: Size) -> str:
    return _size(size, " \\cdot ")


def latex(expr: Expr) -> str:
    """``expr`` in LaTeX."""
    return _latex(expr)[0]


def _lw(expr: Expr, need: int) -> str:
    out, prec = _latex(expr)
    if isinstance(expr, Derivative) and need >= POSTFIX:
        return f"\\left({out}\\right)"
    return out if prec >= need else f"\\left({out}\\right)"


def _single_item(e: Expr) -> bool:
    """Whether ``e`` prints as one item of the LaTeX grammar (a function call is two: the
    head and its bracket)."""
    if isinstance(e, (Transpose, Power)):
        return _single_item(e.operand if isinstance(e, Transpose) else e.base)
    return not isinstance(e, Call)


def _ends_with_sup(e: Expr) -> bool:
    if isinstance(e, Sym):
        return split_name(e.name)[2] is not None
    return isinstance(e, (Transpose, Power))


def _sup_base(e: Expr) -> str:
    """``e`` ready to take a superscript: braces if it already has one."""
    out = _lw(e, POSTFIX)
    return f"{{{out}}}" if _ends_with_sup(e) else out


def _same_op(parent: Expr, child: Expr) -> bool:
    simple = (Sym, Num, Ones, Identity, Commutation, Transpose, Power, Call, Derivative)
    return type(parent) is type(child) or isinstance(child, simple) or (
        isinstance(parent, MatMul) and isinstance(child, Scale)
    )


def _latex(e: Expr) -> tuple[str, int]:
    if isinstance(e, Sym):
        return latex_name(e.name), ATOM
    if isinstance(e, Num):
        return _num(e.value), ATOM
    if isinstance(e, Ones):
        if e.rows is None or e.cols is None:
            return "1", ATOM
        return f"\\mathbf{{1}}_{{({_latex_size(e.rows)}, {_latex_size(e.cols)})}}", ATOM
    if isinstance(e, Identity):
        return ("I" if e.size is None else f"I_{{{_latex_size(e.size)}}}"), ATOM
    if isinstance(e, Commutation):
        return f"K_{{({_latex_size(e.m)}, {_latex_size(e.n)})}}", ATOM
    if isinstance(e, Neg):
        return f"-{_lw(e.operand, PROD)}", SUM
    if isinstance(e, Transpose):
        return f"{_sup_base(e.operand)}^\\top", POSTFIX
    if isinstance(e, Power):
        return f"{_sup_base(e.base)}^{{{e.exponent}}}", POSTFIX
    if isinstance(e, Scale):
        return f"{_num(e.factor.value)} {_lw(e.operand, POSTFIX)}", PROD
    if isinstance(e, Call):
        head = _LATEX_FUNCS.get(e.func, f"\\mathrm{{{e.func}}}")
        return f"{head}({latex(e.arg)})", ATOM
    if isinstance(e, Derivative):
        if e.kind == "nabla":
            step = f"^{{({e.step})}}" if e.step is not None else ""
            num = _lw(e.num, POSTFIX)
            if not _single_item(e.num):
                num = f"\\left({latex(e.num)}\\right)"  # \nabla takes one item: \tanh(x) is two
            return f"\\nabla_{{{latex(_copy_den(e))}}}{step} {num}", ATOM
        at = partial_bar(e)
        bar = f"\\bigg|_{{{at}}}" if at is not None else ""
        return f"\\frac{{\\partial {latex(e.num)}}}{{\\partial {latex(e.den)}}}{bar}", ATOM
    if isinstance(e, Equation):
        return f"{latex(e.lhs)} = {latex(e.rhs)}", 0
    if isinstance(e, Relation):
        return f"{latex(e.lhs)} {e.op} {latex(e.rhs)}", 0
    if isinstance(e, Differential):
        # "d x": the parser takes a plain d before a factor as its differential; the
        # factor is printed as a postfix item so that d binds to all of it.
        return f"d {_lw(e.operand, POSTFIX)}", DIFF
    if isinstance(e, Indexed):
        sep = "" if all(i.isalpha() for i in e.indices) else ","
        return f"{{{latex(e.base)}}}_{{{sep.join(e.indices)}}}", ATOM
    if isinstance(e, IndexProduct):
        lower = f"_{{{e.lower}}}" if e.lower is not None else ""
        upper = f"^{{{e.upper}}}" if e.upper is not None else ""
        return f"\\prod{lower}{upper} {_lw(e.body, PROD)}", SUM
    if isinstance(e, IndexSum):
        lower = f"_{{{e.lower}}}" if e.lower is not None else ""
        upper = f"^{{{e.upper}}}" if e.upper is not None else ""
        # The body of \sum runs to the end of the product: a sum as a factor is
        # parenthesized, and so is a body that is itself a sum.
        return f"\\sum{lower}{upper} {_lw(e.body, PROD)}", SUM
    if isinstance(e, (Add, Sub)):
        op = "+" if isinstance(e, Add) else "-"
        return f"{_lw(e.left, SUM)} {op} {_lw(e.right, PROD)}", SUM
    if isinstance(e, Frobenius):
        return f"{_lw(e.left, SUM)} : {_lw(e.right, SUM)}", FROB
    if isinstance(e, Binary):
        if isinstance(e, MatMul):
            # "2 x" reads back as a scaling; \cdot keeps the matrix product.
            op = " \\cdot " if isinstance(e.left, Num) else " "
        else:
            op = {Hadamard: " \\circ ", HadamardDiv: " \\oslash ", Kron: " \\otimes "}[type(e)]
        # Mixed products (a Kronecker factor inside a matrix product, say) get parentheses
        # for the reader, although the grammar would not need them on the left.
        left_need = PROD if _same_op(e, e.left) else POSTFIX
        # "A d x B": a differential is a plain factor of a matrix product.
        if isinstance(e, MatMul) and isinstance(e.left, Differential):
            left_need = DIFF
        right_need = DIFF if isinstance(e, MatMul) and isinstance(e.right, Differential) else (
            POSTFIX)
        return f"{_lw(e.left, left_need)}{op}{_lw(e.right, right_need)}", PROD
    raise FormulaError(f"cannot render {type(e).__name__}")  # pragma: no cover
