"""Parsers for the text and LaTeX syntaxes: lark grammars, then a transformer to the AST.

The input is only ever tokenized and parsed — never evaluated as code. Every failure is a
:class:`~.errors.FormulaError` carrying the position and a caret line.

``declared`` (the names of the symbols in scope) settles the one thing syntax cannot:
whether ``I`` is the identity or a declared matrix (seed 000's input matrix), and likewise
``K`` (commutation) and ``d`` (a differential).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

from .ast import (
    FUNCTIONS,
    RELATION_TEXT,
    Add,
    Call,
    Cardinality,
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
    Ordinal,
    Placeholder,
    Power,
    Relation,
    Scale,
    Sub,
    Sym,
    Transpose,
    Tuple,
    map_children,
    walk,
)
from .errors import FormulaError
from .names import GREEK, make_name, split_name
from .sizes import Size, parse_size

__all__ = [
    "Annotation",
    "Parsed",
    "Syntax",
    "detect_syntax",
    "parse",
    "parse_block",
    "parse_equations",
    "parse_statements",
    "parse_with_info",
]

Syntax = Literal["text", "latex"]

# Function spellings → canonical function names.
_FUNC_ALIASES = {
    "diag": "diag", "Diag": "diag", "vec": "vec", "vecr": "vecr", "tr": "tr", "trace": "tr",
    "Tr": "tr", "softmax": "softmax", "sigmoid": "sigmoid", "sigma": "sigmoid", "σ": "sigmoid",
    "tanh": "tanh", "exp": "exp", "log": "log", "sum": "sum", "ln": "log",
    "tanh'": "tanh'", "sigmoid'": "sigmoid'", "sigma'": "sigmoid'", "σ'": "sigmoid'",
}
_LATEX_FUNC_COMMANDS = {"\\tanh": "tanh", "\\exp": "exp", "\\log": "log", "\\ln": "log",
                        "\\tr": "tr", "\\sigma": "sigmoid"}
_TRANSPOSE = {"T", "\\top", "\\intercal", "\\mathsf{T}", "\\mathsfT", "\\mathrm{T}",
              "\\text{T}", "{T}", "\\mathsf{\\top}", "{\\top}", "\\rmT", "\\mathbf{T}"}


@dataclass(frozen=True)
class Annotation:
    """A size annotation ``\\underset{rows \\times cols}{expr}`` found while parsing."""

    expr: Expr
    text: str
    position: int


@dataclass
class Parsed:
    """A parse result: the tree, size annotations and source spans of sub-expressions."""

    tree: Expr
    source: str
    syntax: Syntax
    annotations: list[Annotation] = field(default_factory=list)
    # id → (node, start, end); holding the node keeps its id from being reused.
    spans: dict[int, tuple[Expr, int, int]] = field(default_factory=dict)

    def span(self, node: Expr) -> tuple[int, int] | None:
        """Where ``node`` (an object of this tree) came from in :attr:`source`."""
        entry = self.spans.get(id(node))
        return None if entry is None or entry[0] is not node else (entry[1], entry[2])

    def note(self, node: Expr, start: int, end: int) -> None:
        self.spans.setdefault(id(node), (node, start, end))


def detect_syntax(text: str) -> Syntax:
    """``"latex"`` if the text has a backslash, a brace or a ``^``; ``"text"`` otherwise."""
    return "latex" if re.search(r"[\\{}^]", text) else "text"


@functools.cache
def _parser(syntax: Syntax) -> Any:
    # lark is imported here, not at module level, so that importing the package stays cheap.
    import lark

    grammar = resources.files(__package__).joinpath(f"grammar_{syntax}.lark").read_text("utf-8")
    return lark.Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def parse(
    text: str, syntax: Syntax | Literal["auto"] = "auto", *, declared: Collection[str] | None = None
) -> Expr:
    """The AST of a formula (an :class:`~.ast.Equation` when it has ``=``).

    Args:
        text: the formula.
        syntax: ``"text"``, ``"latex"`` or ``"auto"`` (see :func:`detect_syntax`).
        declared: names of declared symbols; a declared ``I`` is a symbol, not the identity.
    """
    return parse_with_info(text, syntax, declared=declared).tree


def parse_with_info(
    text: str,
    syntax: Syntax | Literal["auto"] = "auto",
    *,
    declared: Collection[str] | None = None,
    chains: bool = False,
) -> Parsed:
    """Like :func:`parse`, also returning annotations and spans (for error messages)."""
    if not isinstance(text, str):
        raise FormulaError(f"formula: expected a string, got {type(text).__name__}")
    if syntax == "auto":
        syntax = detect_syntax(text)
    if syntax not in ("text", "latex"):
        raise FormulaError(f"syntax: expected 'text', 'latex' or 'auto', got {syntax!r}")
    if not text.strip():
        raise FormulaError("formula: expected a formula, got an empty string", source=text,
                           position=0)
    result = Parsed(tree=Num(0), source=text, syntax=syntax)
    builder = _Builder(text, result, frozenset(declared) if declared is not None else None)
    tree = _run_lark(syntax, text, 0)
    try:
        result.tree = builder.build(tree, syntax)
    except RecursionError:
        raise FormulaError("formula: nested too deeply", source=text, position=0) from None
    if not chains and isinstance(result.tree, _Statements):
        raise FormulaError(
            "expected one statement; a line such as 'a = b, c = d' or 'a = b \\implies c = d' "
            "holds several: use parse_statements",
            source=text, position=0,
        )
    if not chains and _is_chain(result.tree):
        raise FormulaError(
            "expected at most one '='; a chain such as a = b = c (or a line starting with "
            "'=') holds several equations: use parse_equations",
            source=text, position=max(0, text.find("=")),
        )
    return result


def _is_chain(tree: Expr) -> bool:
    return (
        isinstance(tree, _Chain)
        or (isinstance(tree, Equation) and tree.lhs is _CONTINUED)
        or (isinstance(tree, Relation) and tree.lhs is _CONTINUED)
    )


_ENVIRONMENT = re.compile(
    r"\\begin\{[a-z]+\*?\}|\\end\{[a-z]+\*?\}|\$\$|\\\[|\\\]|\\eqalign\s*\{"
)


def parse_equations(
    text: str, syntax: Syntax | Literal["auto"] = "auto", *, declared: Collection[str] | None = None
) -> list[Equation]:
    """Every equation of a block such as ``\\begin{align*} a &= b \\\\ &= c \\end{align*}``.

    Lines are split at ``\\\\`` and ``\\cr`` (LaTeX) or newlines (text); a chain
    ``a = b = c`` gives ``a = b`` and ``a = c``; a line starting with ``=`` continues the
    left-hand side of the line before. Lines without ``=`` are skipped, and so are
    statements other than equations (``:=`` update rules, ``\\neq``).
    """
    return [
        stmt for stmt in _statements(text, syntax, declared, only_equations=True)
        if isinstance(stmt, Equation)
    ]


def parse_statements(
    text: str, syntax: Syntax | Literal["auto"] = "auto", *, declared: Collection[str] | None = None
) -> list[Expr]:
    """Every statement of a block, as :func:`parse_equations` splits it, keeping the lines
    without ``=`` (expressions) and the other relations (:class:`~.ast.Relation`, such as
    the update rule ``W := W - \\alpha \\sum_t \\nabla^{(t)}_W J``). Statements joined on one
    line by ``,`` or ``\\implies``/``\\Rightarrow`` come out one by one."""
    return _statements(text, syntax, declared, only_equations=False)


def _statements(
    text: str, syntax: Syntax | Literal["auto"], declared: Collection[str] | None,
    *, only_equations: bool, define: bool = False,
) -> list[Expr]:
    if syntax == "auto":
        syntax = detect_syntax(text)
    if syntax == "latex":
        body = _ENVIRONMENT.sub(" ", text)
        body = re.sub(r"\\(begin|end)group(?![A-Za-z])", " ", body)
        lines = re.split(r"\\\\|\\cr(?![A-Za-z])", body)
    else:
        lines = text.splitlines()
    out: list[Expr] = []
    lhs: Expr | None = None
    for line in lines:
        # A whole-line trailing brace closes \eqalign{; drop unmatched closers at the end.
        line = line.strip()
        while line.count("}") > line.count("{") and line.endswith("}"):
            line = line[:-1].rstrip()
        if not line or (only_equations and "=" not in line):
            continue
        tree = parse_with_info(line, syntax, declared=declared, chains=True).tree
        for item in tree.items if isinstance(tree, _Statements) else (tree,):
            stmts, lhs = _expand(item, lhs, line)
            out.extend(stmts)
            if define and declared is not None:
                # A name defined here (δ = ..., z := ...) is in scope for what follows.
                new = [st.lhs.name for st in stmts if isinstance(st, (Equation, Relation))
                       and isinstance(st.lhs, Sym) and st.lhs.name not in declared]
                if new:
                    declared = {*declared, *new}
    return out


def parse_block(
    text: str, syntax: Syntax | Literal["auto"] = "auto", *, declared: Collection[str]
) -> list[Expr]:
    """The statements of a derivation block, as :func:`parse_statements` splits them; a
    statement whose left side is an undeclared symbol (``\\delta^{(t)} = ...``) defines
    it, and the statements after it may use it."""
    return _statements(text, syntax, declared, only_equations=False, define=True)


def _expand(tree: Expr, lhs: Expr | None, line: str) -> tuple[list[Expr], Expr | None]:
    """The statements of one (possibly chained) relation, and the left side it leaves."""
    if isinstance(tree, _Chain):
        sides, ops = list(tree.sides), list(tree.ops) or ["="] * (len(tree.sides) - 1)
    elif isinstance(tree, Equation):
        sides, ops = [tree.lhs, tree.rhs], ["="]
    elif isinstance(tree, Relation):
        sides, ops = [tree.lhs, tree.rhs], [tree.op]
    else:
        return [tree], lhs
    if sides[0] is _CONTINUED:
        if lhs is None:
            raise FormulaError("a line starts with '=' but no equation came before it",
                               source=line, position=max(0, line.find("=")))
        sides[0] = lhs
    pairs = zip(ops, sides[1:], strict=True)
    return [_relate(op, sides[0], side) for op, side in pairs], sides[0]


def _run_lark(syntax: Syntax, text: str, offset: int) -> Any:
    import lark

    try:
        return _parser(syntax).parse(text)
    except lark.exceptions.UnexpectedCharacters as exc:
        raise FormulaError(
            f"unexpected character {text[exc.pos_in_stream or 0]!r} in {syntax} syntax",
            source=text, position=exc.pos_in_stream,
        ) from None
    except lark.exceptions.UnexpectedToken as exc:
        token = exc.token
        expected = _describe_expected(exc.expected)
        if token.type == "$END":
            raise FormulaError(
                f"unexpected end of formula; expected {expected}", source=text,
                position=len(text),
            ) from None
        raise FormulaError(
            f"unexpected {token.value!r}; expected {expected}", source=text,
            position=token.start_pos if token.start_pos is not None else 0,
            length=len(token.value),
        ) from None
    except lark.exceptions.UnexpectedEOF as exc:
        raise FormulaError(
            f"unexpected end of formula; expected {_describe_expected(exc.expected)}",
            source=text, position=len(text),
        ) from None
    except lark.exceptions.LarkError as exc:  # pragma: no cover - lark's other failures
        raise FormulaError(f"cannot parse formula: {exc}", source=text, position=0) from None


_TERMINAL_WORDS = {
    "LPAR": "'('", "RPAR": "')'", "LBRACE": "'{'", "RBRACE": "'}'", "LSQB": "'['",
    "RSQB": "']'", "EQUALS": "'='", "PLUS": "'+'", "MINUS": "'-'", "COLON": "':'",
    "COMMA": "','", "BAR": "'|'", "NAME": "a name", "NUMBER": "a number", "LETTER": "a letter",
    "CMD": "a command", "BINOP": "an operator", "MULOP": "an operator", "POW": "'**'",
    "TRANSPOSE": "'.T'", "SLASH": "'/'", "INDEX": "an index", "SIGNED_INT": "an integer",
    "$END": "the end",
}


def _describe_expected(expected: Collection[str]) -> str:
    words = sorted({_TERMINAL_WORDS.get(e, e.lower()) for e in expected if not e.startswith("__")})
    if not words:
        return "something else"
    if len(words) > 6:
        words = [*words[:6], "..."]
    return ", ".join(words)


# -- markers that exist only while building -------------------------------------------------


@dataclass(frozen=True)
class _Head:
    """A function name waiting for its argument (LaTeX ``\\tanh``, ``\\mathrm{diag}``)."""

    func: str
    power: int | None
    pos: int
    symbol: str | None = None  # \sigma: the symbol it is when no bracket follows


@dataclass(frozen=True)
class _Bracketed:
    """A bracketed expression and the sup/subscripts written after the bracket, kept
    apart so that ``f(x)^2`` means ``(f(x))²``."""

    expr: Expr
    post: tuple[tuple[str, str, int], ...] = ()
    pos: int = 0
    end: int = 0


@dataclass(frozen=True)
class _Differential:
    """``\\mathrm{d}`` before a quantity, as in ``\\frac{\\mathrm{d} J}{\\mathrm{d} H}``."""

    pos: int


class _Builder:
    """Turns a lark tree into the AST, recording spans and annotations."""

    def __init__(self, source: str, result: Parsed, declared: frozenset[str] | None) -> None:
        self.source = source
        self.result = result
        self.declared = declared

    # -- helpers ----------------------------------------------------------------------------
    def error(self, message: str, pos: int, length: int = 1) -> FormulaError:
        return FormulaError(message, source=self.source, position=pos, length=length)

    def note(self, node: Expr, start: int, end: int) -> Expr:
        self.result.note(node, start, end)
        return node

    def is_declared(self, name: str) -> bool:
        return self.declared is not None and name in self.declared

    def build(self, tree: Any, syntax: Syntax) -> Expr:
        return self.rename_steps(self.resolve_top(self.finish(self.visit(tree, syntax))))

    def rename_steps(self, tree: Expr) -> Expr:
        """A step written in another letter than the declared one (``h^{(\\tau)}``,
        ``h_k`` for declared ``h[t]``) is renamed, when exactly one such letter is free, the
        declared letter is not used already, and the renaming makes every name known."""
        if not self.declared:
            return tree
        unknown = {e.name for e in walk(tree) if isinstance(e, Sym)
                   and e.name not in self.declared and e.name != _CONTINUED.name}
        if not unknown:
            return tree
        used = _step_letters(tree)
        wanted = {x for name in self.declared for x in _time_letters(name)}
        free = used - wanted
        if len(free) != 1 or len(wanted) != 1:
            return tree
        (old,), (new,) = free, wanted
        renamed = self.resolve_top(_rename_step(tree, old, new))
        still = {e.name for e in walk(renamed) if isinstance(e, Sym)
                 and e.name not in self.declared and e.name != _CONTINUED.name}
        return renamed if len(still) < len(unknown) else tree

    def resolve_top(self, out: Expr) -> Expr:
        if isinstance(out, _Statements):
            return _Statements(tuple(self.resolve_top(item) for item in out.items))
        if isinstance(out, _Chain):
            return _Chain(tuple(self.resolve(side) for side in out.sides), out.ops)
        return self.resolve(out)

    def visit(self, tree: Any, syntax: Syntax) -> Any:
        if isinstance(tree, str):  # a lark.Token (the other nodes are lark.Trees)
            return tree
        method = getattr(self, f"{syntax}_{tree.data}", None)
        if method is None:  # pragma: no cover - every rule has a method
            raise FormulaError(f"internal: no rule {tree.data}")
        args = [self.visit(child, syntax) for child in tree.children]
        meta = tree.meta
        start = getattr(meta, "start_pos", 0) if not meta.empty else 0
        end = getattr(meta, "end_pos", start) if not meta.empty else start
        out = method(args, start, end)
        if isinstance(out, Expr):
            self.note(out, start, end)
        return out

    def finish(self, item: Any) -> Expr:
        """A finished expression from an item that may still be a marker."""
        if isinstance(item, _Bracketed):
            expr = item.expr
            if expr == _EMPTY:
                raise self.error("empty parentheses: expected an expression inside, or a "
                                 "function before them as in \\tanh()", item.pos)
            for kind, raw, pos in item.post:
                expr = self.apply_script(expr, kind, raw, pos, bracketed=True)
            return expr
        if isinstance(item, _Head):
            if item.symbol is not None:
                sym = Sym(item.symbol)
                return sym if item.power is None else Power(sym, item.power)
            raise self.error(
                f"function {item.func!r}: expected its argument after it, e.g. "
                f"{item.func}(x)", item.pos,
            )
        if isinstance(item, _Differential):
            raise self.error("differential 'd': expected it inside \\frac{d ...}{d ...}",
                             item.pos)
        if not isinstance(item, Expr):  # pragma: no cover - tokens never reach here
            raise FormulaError(f"internal: unexpected {item!r}")
        return item

    def resolve(self, expr: Expr) -> Expr:
        """Undeclared ``I`` → identity, an undeclared ``y_j`` whose ``y`` is declared → the
        element ``y_j``, ``dy/dx`` → a derivative (a pass at the end: names are final only
        then)."""
        if isinstance(expr, Sym) and expr.name == "I" and not self.is_declared("I"):
            return Identity()
        if isinstance(expr, Sym) and self.declared is not None:
            timed = _as_step(expr.name, self.declared)
            if timed is not None:
                return Sym(timed)
            element = _element_of(expr.name, self.declared)
            if element is not None:
                return element
        if (isinstance(expr, HadamardDiv) and isinstance(expr.left, Differential)
                and isinstance(expr.right, Differential)):
            return Derivative(self.resolve(expr.left.operand), self.resolve(expr.right.operand))
        if isinstance(expr, Derivative) and expr.at is None and self.declared is not None:
            copy = _step_copy(expr.den, self.declared)
            if copy is not None:
                # The DL book's copy W^{(t)} of a parameter, used at step t only: the
                # derivative by it is the local one at step t, ∂h^{(t)}/∂b|_t.
                param, step = copy
                return Derivative(self.resolve(expr.num), param, expr.kind, step, expr.step)
        return map_children(expr, self.resolve)

    # -- shared rules -----------------------------------------------------------------------
    def equation(self, args: list[Any]) -> Expr:
        leading = _is_relop(args[0])
        ops = tuple(_relop(str(a)) for a in args if _is_relop(a))
        sides = [self.finish(a) for a in args if not _is_relop(a)]
        if leading:
            # "&= rhs": the continuation of an aligned chain; the caller supplies the lhs.
            sides.insert(0, _CONTINUED)
        if len(sides) == 1:
            return sides[0]
        if len(sides) == 2:
            return _relate(ops[0], sides[0], sides[1])
        return _Chain(tuple(sides), ops)

    def apply_bar(self, expr: Expr, raw: str, pos: int) -> Expr:
        at = re.sub(r"\s+", "", raw)
        if re.fullmatch(r"\([^()]*\)", at):
            at = at[1:-1]  # \right|_{(t)}
        at = _step_text(at)
        if not isinstance(expr, Derivative):
            raise self.error(
                f"evaluation bar |_{at}: expected it after a derivative such as "
                "\\frac{\\partial J}{\\partial H}", pos,
            )
        if not re.fullmatch(r"[A-Za-z0-9+\-]+", at):
            raise self.error(f"evaluation bar: expected a step such as t, got {raw!r}", pos)
        return Derivative(expr.num, expr.den, expr.kind, at, expr.step)

    def size_of(self, expr: Expr, pos: int) -> Size:
        """A size written as an expression (``n_h``, ``3``, ``n_i * n_h``)."""
        if isinstance(expr, Sym):
            return Size(1, (expr.name,))
        if isinstance(expr, Num) and isinstance(expr.value, int) and expr.value > 0:
            return Size(expr.value)
        if isinstance(expr, Ones) and expr.rows is None:
            return Size(1)
        if isinstance(expr, (MatMul, Hadamard)):
            return self.size_of(expr.left, pos) * self.size_of(expr.right, pos)
        if isinstance(expr, Scale) and isinstance(expr.factor.value, int):
            return Size(expr.factor.value) * self.size_of(expr.operand, pos)
        raise self.error("size: expected a size symbol such as n_h, an integer, or a product",
                         pos)

    # -- text syntax --------------------------------------------------------------------------
    def text_start(self, a: list[Any], s: int, e: int) -> Any:
        return a[0]

    def text_equation(self, a: list[Any], s: int, e: int) -> Expr:
        out = self.equation(a)
        if isinstance(out, Equation):
            return Equation(self.short_derivative(out.lhs), out.rhs)
        if isinstance(out, _Chain):
            return _Chain((self.short_derivative(out.sides[0]), *out.sides[1:]), out.ops)
        return out

    def short_derivative(self, lhs: Expr) -> Expr:
        """``dJ/dH`` on the left of ``=`` is a derivative, not a division."""
        target = lhs
        at = None
        if isinstance(lhs, Derivative):
            return lhs
        if (
            isinstance(target, HadamardDiv)
            and isinstance(target.left, Sym)
            and isinstance(target.right, Sym)
            and target.left.name.startswith("d")
            and target.right.name.startswith("d")
            and len(target.left.name) > 1
            and len(target.right.name) > 1
            and not self.is_declared(target.left.name)
        ):
            num, den = target.left.name[1:], target.right.name[1:]
            if num[0].isalpha() and den[0].isalpha():
                return Derivative(self.resolve(Sym(num)), self.resolve(Sym(den)), at=at)
        return lhs

    def text_side(self, a: list[Any], s: int, e: int) -> Expr:
        expr = self.finish(a[0])
        if len(a) == 2:
            raw, pos = a[1]
            expr = self.short_derivative(expr)
            return self.apply_bar(expr, raw, pos)
        return expr

    def text_bar(self, a: list[Any], s: int, e: int) -> tuple[str, int]:
        return str(a[1]), a[1].start_pos

    def text_frob(self, a: list[Any], s: int, e: int) -> Expr:
        return Frobenius(self.finish(a[0]), self.finish(a[2]))

    def text_add(self, a: list[Any], s: int, e: int) -> Expr:
        return Add(self.finish(a[0]), self.finish(a[2]))

    def text_sub(self, a: list[Any], s: int, e: int) -> Expr:
        return Sub(self.finish(a[0]), self.finish(a[2]))

    def text_neg(self, a: list[Any], s: int, e: int) -> Expr:
        return Neg(self.finish(a[1]))

    def text_pos(self, a: list[Any], s: int, e: int) -> Expr:
        return self.finish(a[1])

    def text_binop(self, a: list[Any], s: int, e: int) -> Expr:
        left, op, right = self.finish(a[0]), str(a[1]), self.finish(a[2])
        if op == "*":
            return Scale(left, right) if isinstance(left, Num) else Hadamard(left, right)
        if op in ("@", "·"):
            return MatMul(left, right)
        if op in ("∘", "⊙"):
            return Hadamard(left, right)
        if op == "⊗":
            return Kron(left, right)
        return HadamardDiv(left, right)  # "/" and "⊘"

    def text_power(self, a: list[Any], s: int, e: int) -> Expr:
        return Power(self.finish(a[0]), a[2])

    def text_exponent(self, a: list[Any], s: int, e: int) -> int:
        token = next(t for t in a if _is_token(t, "SIGNED_INT"))
        return int(str(token))

    def text_transpose(self, a: list[Any], s: int, e: int) -> Expr:
        return Transpose(self.finish(a[0]))

    def text_number(self, a: list[Any], s: int, e: int) -> Expr:
        return self.number(str(a[0]))

    def number(self, text: str) -> Expr:
        if text == "1":
            return Ones()
        if re.fullmatch(r"[0-9]+", text):
            return Num(int(text))
        return Num(float(text))

    def text_name(self, a: list[Any], s: int, e: int) -> Expr:
        raw = str(a[0])
        if raw == "σ":
            raise self.error("σ: expected σ(x), the sigmoid of something", s)
        base, sub, _ = split_name(raw)
        time = re.sub(r"\s+", "", str(a[2])) if len(a) > 1 else None
        return Sym(make_name(base, sub, time))

    def text_paren(self, a: list[Any], s: int, e: int) -> Expr:
        return self.finish(a[1])

    def text_differential(self, a: list[Any], s: int, e: int) -> Expr:
        return Differential(self.finish(a[2]))

    def text_index_sum(self, a: list[Any], s: int, e: int) -> Expr:
        inner = str(a[0])[4:-1]
        lower, _, upper = inner.partition(":")
        return IndexSum(self.finish(a[2]), _limit_text(lower) or None,
                        _limit_text(upper) or None)

    def text_args(self, a: list[Any], s: int, e: int) -> list[Expr]:
        return [self.finish(x) for x in a if not _is_token(x, "COMMA")]

    def text_dfrac(self, a: list[Any], s: int, e: int) -> Expr:
        return Derivative(self.finish(a[2]), self.finish(a[7]))

    def text_call(self, a: list[Any], s: int, e: int) -> Expr:
        name = str(a[0])
        args: list[Expr] = a[2] if isinstance(a[2], list) else []
        pos = a[0].start_pos

        def want(counts: tuple[int, ...], usage: str) -> None:
            if len(args) not in counts:
                raise self.error(
                    f"{name}: expected {usage}, got {len(args)} argument(s)", pos, len(name)
                )

        if name in _FUNC_ALIASES:
            want((1,), f"one argument, as in {name}(x)")
            return Call(_FUNC_ALIASES[name], args[0])
        if name == "kron":
            want((2,), "two arguments, as in kron(A, B)")
            return Kron(args[0], args[1])
        if name == "frob":
            want((2,), "two arguments, as in frob(A, B)")
            return Frobenius(args[0], args[1])
        if name in ("eye", "I"):
            want((0, 1), "at most one size, as in eye(n_h)")
            return Identity(self.size_of(args[0], pos) if args else None)
        if name == "ones":
            want((0, 1, 2), "sizes, as in ones(n) or ones(m, n)")
            if not args:
                return Ones()
            rows = self.size_of(args[0], pos)
            cols = self.size_of(args[1], pos) if len(args) == 2 else Size(1)
            return Ones(rows, cols)
        if name == "K":
            want((2,), "two sizes, as in K(m, n)")
            return Commutation(self.size_of(args[0], pos), self.size_of(args[1], pos))
        if name == "elem":
            want((2, 3), "elem(v, i) or elem(W, i, j)")
            indices = [_index_text(x) for x in args[1:]]
            if any(i is None for i in indices):
                raise self.error("elem: expected indices i, j, k, l or positive integers", pos)
            return Indexed(args[0], ",".join(i for i in indices if i is not None))
        if name == "grad":
            want((2, 3), "grad(J, W) or grad(J, W, t)")
            step = None
            if len(args) == 3:
                step = _step_of(args[2])
                if step is None:
                    raise self.error("grad: expected a step such as t, t-1 or 2 as third "
                                     "argument", pos)
            return Derivative(args[0], args[1], "nabla", None, step)
        known = ", ".join([*sorted(_FUNC_ALIASES), "kron", "frob", "eye", "ones", "K", "grad",
                           "elem"])
        raise self.error(f"unknown function {name!r}; known: {known}", pos, len(name))

    # -- LaTeX syntax -------------------------------------------------------------------------
    def latex_start(self, a: list[Any], s: int, e: int) -> Any:
        items = [self.finish(x) for x in a if not _is_token(x, "COMMA", "IMPLIES")]
        return items[0] if len(items) == 1 else _Statements(tuple(items))

    def latex_bigsum(self, a: list[Any], s: int, e: int) -> Expr:
        limits: dict[str, str] = {}
        negative = False
        for item in a[1:-1]:
            if _is_token(item, "MINUS"):
                negative = True
            elif isinstance(item, tuple):
                kind, raw, pos = item
                if kind in limits:
                    raise self.error(f"\\sum: two {kind} limits", pos)
                limits[kind] = _limit_text(raw)
        body = self.finish(a[-1])
        return IndexSum(Neg(body) if negative else body, limits.get("lower"),
                        limits.get("upper"))

    def latex_sum_lower(self, a: list[Any], s: int, e: int) -> tuple[str, str, int]:
        return ("lower", *a[0])

    def latex_sum_upper(self, a: list[Any], s: int, e: int) -> tuple[str, str, int]:
        return ("upper", *a[0])

    def latex_tuple(self, a: list[Any], s: int, e: int) -> Any:
        items = tuple(self.finish(x) for x in a if not _is_token(x, "LPAR", "RPAR", "COMMA"))
        return _Bracketed(self.note(Tuple(items), s, e), (), s, e)

    def latex_empty_paren(self, a: list[Any], s: int, e: int) -> Any:
        return _Bracketed(_EMPTY, (), s, e)

    def latex_op_placeholder(self, a: list[Any], s: int, e: int) -> Any:
        return _Bracketed(self.note(Placeholder(str(a[1])), s, e), (), s, e)

    def latex_cardinality(self, a: list[Any], s: int, e: int) -> Expr:
        return Cardinality(self.finish(a[1]))

    def latex_placeholder(self, a: list[Any], s: int, e: int) -> Expr:
        return Placeholder(str(a[0]))

    def latex_over(self, a: list[Any], s: int, e: int) -> Any:
        out = self.fraction(a[1], a[3], s)
        return out if isinstance(out, _DerivOp) else _Bracketed(self.note(out, s, e), (), s, e)

    def latex_dover(self, a: list[Any], s: int, e: int) -> Any:
        d = Derivative(self.finish(a[3]), self.finish(a[8]))
        return _Bracketed(self.note(d, s, e), (), s, e)

    def latex_equation(self, a: list[Any], s: int, e: int) -> Expr:
        return self.equation(a)

    def latex_side(self, a: list[Any], s: int, e: int) -> Expr:
        expr = self.finish(a[0])
        if len(a) == 2:
            raw, pos = a[1]
            return self.apply_bar(expr, raw, pos)
        return expr

    def latex_bar(self, a: list[Any], s: int, e: int) -> tuple[str, int]:
        return a[1]

    def latex_braced_arg(self, a: list[Any], s: int, e: int) -> tuple[str, int]:
        lb, rb = a[0], a[-1]
        return self.source[lb.end_pos : rb.start_pos], lb.end_pos

    def latex_token_arg(self, a: list[Any], s: int, e: int) -> tuple[str, int]:
        return str(a[0]), a[0].start_pos

    def latex_raw(self, a: list[Any], s: int, e: int) -> None:
        return None

    latex_raw_item = latex_raw

    # The two grammars share these rules' shapes: one action serves both.
    latex_frob = text_frob
    latex_neg = text_neg
    latex_pos = text_pos
    latex_add = text_add
    latex_sub = text_sub

    def latex_prod(self, a: list[Any], s: int, e: int) -> Any:
        # An operator \frac{\partial}{\partial X} differentiates the rest of the product.
        for k, item in enumerate(a):
            if isinstance(item, _DerivOp):
                if k + 1 == len(a):
                    raise self.error("\\frac{\\partial}{\\partial X}: expected the "
                                     "expression it differentiates after it", item.pos)
                rest = self.finish(self.latex_prod(a[k + 1:], s, e))
                d = self.note(Derivative(rest, item.den), item.pos, e)
                a = [*a[:k], d]
                break
        # First let every function head take the item after it as its argument.
        items: list[Any] = []
        i = 0
        while i < len(a):
            item = a[i]
            if isinstance(item, _Head):
                nxt = a[i + 1] if i + 1 < len(a) else None
                if item.symbol is not None and not isinstance(nxt, _Bracketed):
                    items.append(self.finish(item))
                    i += 1
                    continue
                if nxt is None or _is_token(nxt, "BINOP"):
                    if len(a) == 1:
                        return item  # a head alone, e.g. inside \mathrm{...}: resolved above
                    raise self.error(
                        f"function {item.func!r}: expected an argument after it", item.pos
                    )
                if isinstance(nxt, _Head):
                    raise self.error(
                        f"function {item.func!r}: expected an argument, got function "
                        f"{nxt.func!r}; write {item.func}({nxt.func}(x))", nxt.pos
                    )
                call: Expr
                if isinstance(nxt, _Bracketed):
                    call = self.note(Call(item.func, nxt.expr), item.pos, nxt.end)
                    if item.power is not None:
                        call = self.note(Power(call, item.power), item.pos, nxt.end)
                    items.append(_Bracketed(call, nxt.post, item.pos, nxt.end))
                else:
                    call = Call(item.func, self.finish(nxt))
                    items.append(Power(call, item.power) if item.power is not None else call)
                i += 2
                continue
            items.append(item)
            i += 1
        if len(items) == 1:
            return items[0] if isinstance(items[0], _Bracketed) else self.finish(items[0])
        if isinstance(items[0], _Differential):
            rest = self.fold(items[1:])
            return _DiffOf(rest, items[0].pos)
        return self.fold(items)

    def fold(self, items: list[Any]) -> Expr:
        """The product of items: ``\\otimes`` binds more loosely than the other products
        (``AC \\otimes BD`` is ``(AC) \\otimes (BD)``); each stretch between them is a
        left-associative product."""
        items = self.differentials(self.merge_names(items))
        groups: list[list[Any]] = [[]]
        for item in items:
            if _is_token(item, "BINOP") and str(item) == "\\otimes":
                groups.append([])
            else:
                groups[-1].append(item)
        if len(groups) == 1:
            return self.fold_products(items)
        if any(not g for g in groups):
            raise self.error("\\otimes: expected a factor on both sides", 0)
        result = self.fold_products(groups[0])
        for group in groups[1:]:
            result = Kron(result, self.fold_products(group))
        return result

    def merge_names(self, items: list[Any]) -> list[Any]:
        """Juxtaposed letters written together that spell a declared name are that name
        (``dW``, ``Wx`` when declared): the longest run wins; letters apart (``d W``,
        ``d\\,W``) stay a product. When the letters are declared one by one too, both
        readings are named in an error."""
        if not self.declared:
            return items
        out: list[Any] = []
        i = 0
        while i < len(items):
            best = None
            for j in range(len(items), i + 1, -1):
                if any(self.apart(items[k], items[k + 1]) for k in range(i, j - 1)):
                    continue
                name = _joined_name(items[i:j])
                if name is not None and name in self.declared:
                    best = (j, name)
                    break
            if best is None:
                out.append(items[i])
                i += 1
                continue
            j, name = best
            parts = [x for x in items[i:j]]
            if all(isinstance(x, Sym) and self.is_declared(x.name) for x in parts):
                spelled = " ".join(x.name for x in parts if isinstance(x, Sym))
                where = self.result.span(parts[0])
                raise self.error(
                    f"{name!r} is ambiguous: the declared symbol {name!r}, or the product "
                    f"{spelled} of declared symbols; write \\mathrm{{{name}}} for the "
                    "symbol or separate the factors (\\,)", where[0] if where else 0,
                    len(name))
            out.append(Sym(name))
            i = j
        return out

    def apart(self, left: Any, right: Any) -> bool:
        """Whether a space (or a spacing command) separates two juxtaposed items."""
        a = self.result.span(left) if isinstance(left, Expr) else None
        b = self.result.span(right) if isinstance(right, Expr) else None
        if a is None or b is None or a[1] > b[0]:
            return False
        return _SPACING.search(self.source[a[1]:b[0]]) is not None

    def fold_products(self, items: list[Any]) -> Expr:
        """Left-associative product of items, with the operator tokens between them."""
        result = self.finish(items[0])
        i = 1
        while i < len(items):
            op = "juxt"
            if _is_token(items[i], "BINOP"):
                op = str(items[i])
                i += 1
            if isinstance(items[i], _Differential):
                raise self.error("differential 'd': expected it first in \\frac{d ...}{d ...}",
                                 items[i].pos)
            right = self.finish(items[i])
            i += 1
            if op == "juxt":
                result = Scale(result, right) if isinstance(result, Num) else MatMul(result, right)
            elif op in ("\\cdot", "\\times", "*"):
                result = MatMul(result, right)
            elif op in ("\\circ", "\\odot"):
                result = Hadamard(result, right)
            elif op == "\\otimes":
                result = Kron(result, right)
            else:  # \oslash and /
                result = HadamardDiv(result, right)
        return result

    def differentials(self, items: list[Any]) -> list[Any]:
        """An undeclared plain ``d`` before a factor is the differential of that factor."""
        if self.is_declared("d"):
            return items
        out: list[Any] = []
        i = 0
        while i < len(items):
            item = items[i]
            nxt = items[i + 1] if i + 1 < len(items) else None
            if (item == Sym("d") and nxt is not None and not _is_token(nxt, "BINOP")
                    and not isinstance(nxt, (_Differential, _Head))):
                out.append(Differential(self.finish(nxt)))
                i += 2
                continue
            out.append(item)
            i += 1
        return out

    def latex_sup(self, a: list[Any], s: int, e: int) -> Any:
        base, (raw, pos) = a[0], a[1]
        if isinstance(base, _Head) and (base.symbol is None or _integer(raw) is not None):
            power = _integer(raw)
            if power is None or base.power is not None:
                raise self.error(
                    f"superscript {raw!r} on function {base.func}: expected a power such as 2",
                    pos,
                )
            return _Head(base.func, power, base.pos, base.symbol)
        if isinstance(base, _Head) and base.symbol is not None and base.power is None:
            # \sigma^{(t)}: the symbol σ at a step (a function takes integer powers only)
            return self.apply_script(Sym(base.symbol), "sup", raw, pos)
        if isinstance(base, _Bracketed):
            return _Bracketed(base.expr, (*base.post, ("sup", raw, pos)), base.pos, e)
        return self.apply_script(self.finish(base), "sup", raw, pos)

    def latex_sub_script(self, a: list[Any], s: int, e: int) -> Any:
        base, (raw, pos) = a[0], a[1]
        if isinstance(base, _Bracketed):
            return _Bracketed(base.expr, (*base.post, ("sub", raw, pos)), base.pos, e)
        if isinstance(base, _Head) and base.symbol is not None and base.power is None:
            return self.apply_script(Sym(base.symbol), "sub", raw, pos)  # \sigma_{h}: a symbol
        if isinstance(base, _Head):
            raise self.error(f"subscript on function {base.func!r}: not supported", pos)
        return self.apply_script(self.finish(base), "sub", raw, pos)

    def latex_prime(self, a: list[Any], s: int, e: int) -> Any:
        """``\\tanh'`` (the derivative of a function) or ``a'`` (a primed symbol)."""
        base = a[0]
        if isinstance(base, _Head):
            primed = base.func + "'"
            if primed not in FUNCTIONS or base.power is not None:
                raise self.error(
                    f"prime on function {base.func!r}: expected one of "
                    f"{', '.join(f for f in FUNCTIONS if f.endswith(chr(39)))}", s)
            symbol = None if base.symbol is None else base.symbol + "'"
            return _Head(primed, None, base.pos, symbol)
        if isinstance(base, Sym):
            b, sub, time = split_name(base.name)
            return Sym(make_name(b + "'", sub, time))
        raise self.error("prime: expected it on a symbol (a') or a function (\\tanh')",
                         e - 1)

    def latex_bigprod(self, a: list[Any], s: int, e: int) -> Expr:
        total = self.latex_bigsum(a, s, e)
        assert isinstance(total, IndexSum)
        return IndexProduct(total.body, total.lower, total.upper)

    def latex_doperator(self, a: list[Any], s: int, e: int) -> Any:
        return _DerivOp(self.finish(a[6]), s)

    def apply_script(
        self, base: Expr, kind: str, raw: str, pos: int, *, bracketed: bool = False
    ) -> Expr:
        text = re.sub(r"\s+", "", raw)
        if kind == "sup":
            if text in _TRANSPOSE or re.sub(r"[{}]", "", text) in _TRANSPOSE:
                return Transpose(base)
            power = _integer(text)
            if power is not None:
                return Power(base, power)
            # A step index, written (t), <t> or \langle t\rangle, with a transpose stacked
            # after it: h^{(t)T}, h^{(t)\top}, h^{(t)^\top}, a^{\langle t \rangle}.
            match = _STEP_SUP.fullmatch(_angles(text))
            if match and isinstance(base, Sym) and not bracketed:
                b, sub, time = split_name(base.name)
                mark = match["mark"]
                if time is None and (not mark or re.sub(r"[{}]", "", mark) in _TRANSPOSE):
                    named: Expr = Sym(make_name(b, sub, _step_text(match["step"])))
                    return Transpose(named) if mark else named
            if _ELEMENT_INDEX.fullmatch(text):
                return Indexed(base, text)
            if _ORDINAL.fullmatch(text):
                return Ordinal(base, text)
            raise self.error(
                f"superscript {raw!r}: expected T or \\top (transpose), an integer power, "
                "or a time index such as (t-1) on a symbol",
                pos, max(1, len(raw)),
            )
        # subscripts
        if isinstance(base, Sym) and not bracketed:
            b, sub, time = split_name(base.name)
            name_sub = text.replace("\\_", "_")
            if sub is None and time is None:
                candidate = make_name(b, name_sub) if _is_name_sub(name_sub) else None
                if b == "I" and not self.is_declared(candidate or ""):
                    return Identity(self.parse_size(text, pos))
                if b == "K" and not self.is_declared(candidate or "") and (
                        "," in text or re.fullmatch(r"\{?[A-Za-z0-9]{2}\}?", text)):
                    # K_{m,n}, K_{(m,n)}, and the Cookbook's K_{mn} (two one-letter sizes)
                    m, n = self.parse_size_pair(text if "," in text else
                                                f"{text.strip('{}')[0]},{text.strip('{}')[1]}",
                                                pos)
                    return Commutation(m, n)
                if candidate is not None:
                    return Sym(candidate)
        if bracketed:
            indices = _split_indices(text)
            if indices is not None:
                return Indexed(base, ",".join(indices))
        if isinstance(base, Ones) and base.rows is None and not bracketed:
            indicator = re.fullmatch(r"([ijkl])=(.+)", text)
            if indicator is not None:
                # The DL book's indicator 1_{i = y^{(t)}}: entry i of the label's one-hot
                # vector y^{(t)}.
                label = self.fragment(raw[raw.index("=") + 1:], pos + raw.index("=") + 1)
                if not isinstance(label, Sym):
                    raise self.error(
                        f"indicator 1_{{{text}}}: expected a label symbol after '=', such as "
                        "y^{(t)}", pos, max(1, len(raw)))
                return Indexed(label, indicator[1])
            if "," in text:
                rows, cols = self.parse_size_pair(text, pos)
                return Ones(rows, cols)
            return Ones(self.parse_size(text, pos), Size(1))
        raise self.error(
            f"subscript {raw!r}: expected it on a symbol (W_{{hh}}), the identity (I_n), "
            "ones (1_n) or the commutation matrix (K_{m,n})",
            pos, max(1, len(raw)),
        )

    def parse_size(self, text: str, pos: int) -> Size:
        try:
            return parse_size(text)
        except FormulaError as exc:
            raise self.error(exc.reason, pos) from None

    def parse_size_pair(self, text: str, pos: int) -> tuple[Size, Size]:
        inner = text[1:-1] if text.startswith("(") and text.endswith(")") else text
        parts = inner.split(",")
        if len(parts) != 2:
            raise self.error(f"expected two sizes such as (m,n), got {text!r}", pos)
        return self.parse_size(parts[0], pos), self.parse_size(parts[1], pos)

    def latex_letter(self, a: list[Any], s: int, e: int) -> Expr:
        return Sym(str(a[0]))

    def latex_number(self, a: list[Any], s: int, e: int) -> Expr:
        return self.number(str(a[0]))

    def latex_funcword(self, a: list[Any], s: int, e: int) -> Any:
        word = str(a[0])
        if word == "kron":
            raise self.error("kron: write A \\otimes B in LaTeX", s)
        return _Head(_FUNC_ALIASES[word], None, s)

    def latex_command(self, a: list[Any], s: int, e: int) -> Any:
        cmd = str(a[0])
        if cmd == "\\sigma":
            return _Head("sigmoid", None, s, symbol="sigma")
        if cmd in _LATEX_FUNC_COMMANDS:
            return _Head(_LATEX_FUNC_COMMANDS[cmd], None, s)
        if cmd[1:] in GREEK:
            return Sym(cmd[1:])
        raise self.error(f"unknown command {cmd}", s, len(cmd))

    def latex_paren(self, a: list[Any], s: int, e: int) -> Any:
        return _Bracketed(self.finish(a[1]), (), s, e)

    latex_group = latex_paren

    def latex_rm_word(self, a: list[Any], s: int, e: int) -> Any:
        lb, rb = a[0], a[-1]
        raw = self.source[a[1].end_pos : rb.start_pos]
        return self.word(raw, lb.start_pos)

    def latex_word(self, a: list[Any], s: int, e: int) -> Any:
        raw = self.source[a[1].end_pos : a[-1].start_pos]
        return self.word(raw, s)

    def word(self, raw: str, pos: int) -> Any:
        word = re.sub(r"\s+", "", raw).replace("\\_", "_")
        if word in _FUNC_ALIASES:
            return _Head(_FUNC_ALIASES[word], None, pos)
        if word == "d":
            return _Differential(pos)
        if word == "1":
            return Ones()
        if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", word):
            base, _, sub = word.partition("_")
            return Sym(make_name(base, sub or None))
        raise self.error(f"\\mathrm{{{raw}}}: expected a function or a name", pos)

    def latex_decor(self, a: list[Any], s: int, e: int) -> Any:
        cmd, inner = str(a[0]), a[1]
        if cmd in ("\\hat", "\\widehat"):
            if not isinstance(inner, Sym):
                raise self.error(f"{cmd}: expected a symbol under the hat", s)
            base, sub, time = split_name(inner.name)
            return Sym(make_name(base + "hat", sub, time))
        return inner  # bold and blackboard fonts do not change the meaning

    def latex_arg_expr(self, a: list[Any], s: int, e: int) -> Expr:
        if len(a) == 1:
            token = a[0]
            if _is_token(token, "LETTER"):
                return Sym(str(token))
            if _is_token(token, "NUMBER"):
                return self.number(str(token))
            result = self.latex_command([token], token.start_pos, token.end_pos)
            return self.finish(result)
        return self.finish(a[1])

    def latex_frac(self, a: list[Any], s: int, e: int) -> Any:
        return self.fraction(a[2], a[5], s)

    def fraction(self, num: Any, den: Any, s: int) -> Any:
        if isinstance(num, _Differential) and isinstance(den, _DiffOf):
            return _DerivOp(den.expr, s)  # \frac{\mathrm{d}}{\mathrm{d} x}
        if num == Sym("d") and not self.is_declared("d"):
            den_e = self.plain_d(self.finish(den))
            if den_e is not None:
                return _DerivOp(den_e, s)  # \frac{d}{dx}
        if isinstance(num, _DiffOf) and isinstance(den, _DiffOf):
            return Derivative(num.expr, den.expr)
        if isinstance(num, _DiffOf) or isinstance(den, _DiffOf):
            raise self.error("\\frac: expected d in both numerator and denominator", s)
        num_e, den_e = self.finish(num), self.finish(den)
        plain = self.plain_d(num_e), self.plain_d(den_e)
        if plain[0] is not None and plain[1] is not None:
            return Derivative(plain[0], plain[1])
        quotient = _number_quotient(num_e, den_e)
        if quotient is not None:
            # \frac{1}{4} is the number ¼, and scales what follows as 2 A does: as an
            # entrywise 1 ⊘ 4 a bare 1 would take a matrix shape from the product around it.
            return quotient
        return HadamardDiv(num_e, den_e)

    def plain_d(self, expr: Expr) -> Expr | None:
        """``d J`` written with a plain letter d (only when ``d`` is not a declared symbol)."""
        if self.is_declared("d"):
            return None
        if isinstance(expr, Differential):
            return expr.operand
        if isinstance(expr, MatMul) and expr.left == Sym("d"):
            return expr.right
        if isinstance(expr, MatMul):
            inner = self.plain_d(expr.left)
            return None if inner is None else MatMul(inner, expr.right)
        return None

    def latex_dfrac(self, a: list[Any], s: int, e: int) -> Expr:
        return Derivative(self.finish(a[3]), self.finish(a[7]))

    def latex_nabla(self, a: list[Any], s: int, e: int) -> Expr:
        (raw, pos) = a[1]
        step = None
        if len(a) == 4:
            step_raw, step_pos = a[2]
            match = re.fullmatch(r"\(?([A-Za-z0-9+\-]+)\)?", re.sub(r"\s+", "", step_raw))
            if match is None:
                raise self.error("\\nabla: expected a step such as ^{(t)}", step_pos)
            step = match[1]
        den = self.fragment(raw, pos)
        return Derivative(self.finish(a[-1]), den, "nabla", None, step)

    def latex_nabla_swapped(self, a: list[Any], s: int, e: int) -> Expr:
        """``\\nabla^{(t)}_{W}``: the scripts in the other order."""
        return self.latex_nabla([a[0], a[2], a[1], a[3]], s, e)

    def fragment(self, raw: str, pos: int) -> Expr:
        """Parse a sub-formula held in a raw argument (the subscript of ``\\nabla``)."""
        sub = Parsed(tree=Num(0), source=raw, syntax="latex")
        builder = _Builder(raw, sub, self.declared)
        try:
            tree = _run_lark("latex", raw, 0)
            expr = builder.build(tree, "latex")
        except FormulaError as exc:
            raise self.error(exc.reason, pos + (exc.position or 0)) from None
        if isinstance(expr, Equation):
            raise self.error("expected an expression, not an equation", pos)
        return expr

    def latex_underset(self, a: list[Any], s: int, e: int) -> Any:
        raw = self.source[a[1].end_pos : a[3].start_pos]
        expr = self.finish(a[5])
        self.result.annotations.append(Annotation(expr, raw, a[1].end_pos))
        return _Bracketed(expr, (), s, e) if isinstance(a[5], _Bracketed) else expr


@dataclass(frozen=True)
class _Chain(Expr):
    """``a = b = c`` (or ``= b = c`` continuing an aligned chain): several equations."""

    sides: tuple[Expr, ...]
    ops: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Statements(Expr):
    """``a = b, c = d`` or ``a = b \\implies c = d``: several statements on one line."""

    items: tuple[Expr, ...]


_EMPTY = Placeholder("")


def _relate(op: str, lhs: Expr, rhs: Expr) -> Expr:
    return Equation(lhs, rhs) if op == "=" else Relation(op, lhs, rhs)


def _is_relop(item: Any) -> bool:
    return _is_token(item, "EQUALS", "ASSIGN", "RELOP")


# Superscripts that index rather than transpose or power: h_1^i, i^{th}, a^{(T_x-t)}.
_ELEMENT_INDEX = re.compile(r"[ijkl]")
_ORDINAL = re.compile(r"th|st|nd|rd|\([A-Za-z0-9+\-]*_[A-Za-z0-9_+\-]*\)")
# Letters that index elements in subscripts (y_j, W_{ij}, h_{t+1,i}).
_INDEX_LETTERS = "ijkl"


_CONTINUED = Sym("__continued__")
_SPACING = re.compile(r"\s|\\[,;:! ]|~|\\q?quad(?![A-Za-z])")


@dataclass(frozen=True)
class _DiffOf:
    """``d X`` in a fraction, waiting for the fraction to become a derivative."""

    expr: Expr
    pos: int


def _is_token(item: Any, *kinds: str) -> bool:
    return getattr(item, "type", None) in kinds


def _integer(text: str) -> int | None:
    text = text.strip().strip("{}").replace(" ", "")
    return int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else None


def _is_name_sub(text: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9_]+|[A-Za-z0-9+\-,]+", text) is not None


_RELOP_ALIASES = {"\\ne": "\\neq", "\\le": "\\leq", "\\ge": "\\geq", "≠": "\\neq",
                  "≈": "\\approx", "≤": "\\leq", "≥": "\\geq"}
_TEXT_RELOPS = {text: op for op, text in RELATION_TEXT.items()}


def _relop(op: str) -> str:
    """One spelling per relation: LaTeX's (``\\neq``), ``=`` and ``:=``."""
    op = op.strip()
    return _RELOP_ALIASES.get(op, _TEXT_RELOPS.get(op, op))


def _limit_text(raw: str) -> str:
    """A sum limit as written, without spacing and ``\\left``/``\\right``."""
    text = re.sub(r"\\(left|right)(?![A-Za-z])", "", raw)
    return re.sub(r"\s+", "", text)


def _split_indices(text: str) -> list[str] | None:
    """``ij`` → ``[i, j]``, ``i,j`` → ``[i, j]``, ``2`` → ``[2]``; ``None`` if not indices."""
    text = text.strip("{}")
    parts = text.split(",") if "," in text else (
        [text] if text.isdigit() else list(text)
    )
    if not 1 <= len(parts) <= 2:
        return None
    for part in parts:
        if not ((part in _INDEX_LETTERS and len(part) == 1)
                or (part.isdigit() and int(part) >= 1)):
            return None
    return parts


def _element_of(name: str, declared: Collection[str]) -> Indexed | None:
    """``y_j[t]`` as the element ``j`` of ``y[t]`` when ``y_j[t]`` is not declared but
    ``y[t]`` is (``W_ij`` → ``W`` at ``i, j``; ``h_{t+1,i}`` → ``h_{t+1}`` at ``i``)."""
    if name in declared:
        return None
    try:
        base, sub, time = split_name(name)
    except FormulaError:
        return None
    if sub is None:
        return None
    candidates: list[tuple[str | None, str]] = [(None, sub)]
    if "," in sub:
        head, _, tail = sub.rpartition(",")
        candidates.append((head, tail))
    for prefix, index in candidates:
        indices = _split_indices(index)
        if indices is None:
            continue
        owners = [(base, prefix, time)]
        if prefix is not None and time is None:
            owners.append((base, None, prefix))  # h_{t+1,i}: entry i of h[t+1]
        for owner_parts in owners:
            try:
                owner = make_name(*owner_parts)
            except FormulaError:
                continue
            if owner in declared:
                return Indexed(Sym(owner), ",".join(indices))
    return None


_STEP_TEXT = re.compile(r"[A-Za-z]+(?:[+\-][A-Za-z0-9]+)*|[0-9]+")


def _as_step(name: str, declared: Collection[str]) -> str | None:
    """``h_t`` as ``h[t]`` (``h_{t+1}`` as ``h[t+1]``) when only the latter is declared:
    a step index may be a subscript as well as a superscript."""
    if name in declared:
        return None
    try:
        base, sub, time = split_name(name)
    except FormulaError:
        return None
    if sub is None or time is not None or not _STEP_TEXT.fullmatch(sub):
        return None
    try:
        candidate = make_name(base, None, sub)
    except FormulaError:
        return None
    return candidate if candidate in declared else None


def _step_copy(den: Expr, declared: Collection[str]) -> tuple[Sym, str] | None:
    """``(θ, t)`` when ``den`` is ``θ^{(t)}`` for a declared ``θ`` without a step, and
    ``θ^{(t)}`` itself is not declared."""
    if not isinstance(den, Sym) or den.name in declared:
        return None
    try:
        base, sub, time = split_name(den.name)
    except FormulaError:
        return None
    if time is None:
        return None
    param = make_name(base, sub)
    return (Sym(param), time) if param in declared else None


def _time_letters(name: str) -> set[str]:
    try:
        _, sub, time = split_name(name)
    except FormulaError:
        return set()
    out = set()
    for text in (time, sub if sub is not None and _STEP_TEXT.fullmatch(sub) else None):
        if text is not None:
            out |= set(re.findall(r"[A-Za-z]+", text))
    return out


def _step_letters(tree: Expr) -> set[str]:
    """The letters used as steps: in time indices, step-like subscripts, ∇ steps, bars,
    sum indices."""
    out: set[str] = set()
    for e in walk(tree):
        if isinstance(e, Sym):
            out |= _time_letters(e.name)
        elif isinstance(e, Derivative):
            out |= {x for x in (e.step, e.at) if x is not None and x.isalpha()}
        elif isinstance(e, IndexSum) and e.var is not None:
            out.add(e.var)
    return {x for x in out if x not in _INDEX_LETTERS}


def _rename_step(tree: Expr, old: str, new: str) -> Expr:
    word = re.compile(rf"(?<![A-Za-z]){re.escape(old)}(?![A-Za-z])")

    def sub(text: str | None) -> str | None:
        return None if text is None else word.sub(new, text)

    def visit(e: Expr) -> Expr:
        if isinstance(e, Sym):
            try:
                base, s_, time = split_name(e.name)
            except FormulaError:
                return e
            if time is not None:
                return Sym(make_name(base, s_, sub(time)))
            if s_ is not None and _STEP_TEXT.fullmatch(s_):
                return Sym(make_name(base, sub(s_)))
            return e
        out = map_children(e, visit)
        if isinstance(out, Derivative):
            return Derivative(out.num, out.den, out.kind, sub(out.at), sub(out.step))
        if isinstance(out, IndexSum):
            return IndexSum(out.body, sub(out.lower), sub(out.upper))
        return out

    return visit(tree)


def _number_quotient(num: Expr, den: Expr) -> Num | None:
    """``\\frac{a}{b}`` of two literal numbers (a bare ``1`` included) as the number
    ``a/b``; ``None`` otherwise."""
    values = [1 if e == Ones() else e.value if isinstance(e, Num) else None
              for e in (num, den)]
    if values[0] is None or values[1] is None or values[1] == 0:
        return None
    return Num(values[0] / values[1])


def _step_of(expr: Expr) -> str | None:
    """A step written as an expression (``t``, ``t-1``, ``t+1``, ``2``) as its text."""
    if isinstance(expr, Sym) and re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", expr.name):
        return expr.name
    if isinstance(expr, Ones) and expr.rows is None:
        return "1"
    if isinstance(expr, Num) and isinstance(expr.value, int):
        return str(expr.value)
    if isinstance(expr, (Add, Sub)):
        left, right = _step_of(expr.left), _step_of(expr.right)
        if left is None or right is None:
            return None
        return f"{left}{'+' if isinstance(expr, Add) else '-'}{right}"
    return None


def _index_text(expr: Expr) -> str | None:
    """An index argument of ``elem(...)``: a letter i, j, k, l or a positive integer."""
    if isinstance(expr, Sym) and expr.name in tuple(_INDEX_LETTERS):
        return expr.name
    if isinstance(expr, Ones) and expr.rows is None:
        return "1"
    if isinstance(expr, Num) and isinstance(expr.value, int) and expr.value >= 1:
        return str(expr.value)
    return None


@dataclass(frozen=True)
class _DerivOp:
    """``\\frac{\\partial}{\\partial X}``: differentiates the rest of the product."""

    den: Expr
    pos: int


# The step of a superscript: (t), (t-1), (\tau), with a transpose mark stacked after it.
_STEP_SUP = re.compile(
    r"\((?P<step>[A-Za-z0-9+\-\\]+)\)(?:\^?(?P<mark>\{?(?:T|\\top|\\intercal|\\mathsf\{T\}|"
    r"\\mathsfT|\\mathrm\{T\})\}?))?"
)


def _angles(text: str) -> str:
    """``\\langle t\\rangle`` and ``<t>`` (deeplearning.ai's step) as ``(t)``."""
    return re.sub(r"^(?:\\langle|<)(.*?)(?:\\rangle|>)", r"(\1)", text)


def _step_text(text: str) -> str:
    """A step as names hold it: ``\\tau`` → ``tau``, ``\\tau+1`` → ``tau+1``."""
    return re.sub(r"\\([A-Za-z]+)", lambda m: m[1] if m[1] in GREEK else m[0], text)


def _joined_name(items: list[Any]) -> str | None:
    """The name spelled by juxtaposed symbols: one-letter bases, the last one may carry a
    subscript or a time index (``d``, ``W`` → ``dW``; ``d``, ``W_hh`` → ``dW_hh``)."""
    if len(items) < 2 or not all(isinstance(x, Sym) for x in items):
        return None
    try:
        parts = [split_name(x.name) for x in items]
    except FormulaError:
        return None
    if any(sub is not None or time is not None or len(base) != 1
           for base, sub, time in parts[:-1]):
        return None
    base, sub, time = parts[-1]
    try:
        return make_name("".join(p[0] for p in parts[:-1]) + base, sub, time)
    except FormulaError:
        return None
