"""The part of expr-lang that Argo Rollouts conditions use, parsed — never `eval()`-ed.

Argo Rollouts evaluates `successCondition` / `failureCondition` with expr-lang, `result`
bound to the provider's value (for Prometheus: a list of floats for a vector, a float for a
scalar). This grammar covers what the templates here need and the guards the Argo docs show:

    expr    := or
    or      := and (("||" | "or") and)*
    and     := not (("&&" | "and") not)*
    not     := ("!" | "not") not | compare
    compare := sum (("==" | "!=" | "<" | "<=" | ">" | ">=") sum)?
    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/") unary)*
    unary   := "-" unary | postfix
    postfix := primary ("[" expr "]")*
    primary := NUMBER | "true" | "false" | "nil" | "result" | CALL | "(" expr ")"
    CALL    := ("len" | "isNaN" | "isInf" | "isNil") "(" expr ")"

Semantics follow Go and expr-lang: comparisons with NaN are false; a negative index counts
from the end (`result[-1]` is the last element); indexing an empty or short list is a
runtime error (Argo then records the measurement as Error, not Failed); a condition whose
value is not a boolean is an error too. `isNil(x)` is Argo's own function: it evaluates its
argument but answers whether the provider's *result* is nil, whatever `x` is — and a
Prometheus result is never nil (an empty vector is an empty, non-nil list), so it is false.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

Value = float | bool | list[float] | None


class ExprError(Exception):
    """Parse or evaluation error; evaluation errors make the measurement an Error."""


_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
    r"|(?P<op>\|\||&&|==|!=|<=|>=|[<>!()\[\]+\-*/])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*))"
)
_FUNCTIONS = {"len", "isNaN", "isInf", "isNil"}
_KEYWORDS = {"and": "&&", "or": "||", "not": "!"}


def _tokenize(text: str) -> list[str]:
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ExprError(f"unexpected character at {position}: {text[position:]!r}")
        token = match.group("number") or match.group("op") or match.group("name") or ""
        tokens.append(_KEYWORDS.get(token, token))
        position = match.end()
    return tokens


Node = Callable[[object], Value]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise ExprError(f"expected {expected or 'more'} in {self.text!r}, found {token!r}")
        self.position += 1
        return token

    def parse(self) -> Node:
        node = self.or_()
        if self.peek() is not None:
            raise ExprError(f"unexpected {self.peek()!r} in {self.text!r}")
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.peek() == "||":
            self.take()
            node = _logical(node, self.and_(), want=True)
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.peek() == "&&":
            self.take()
            node = _logical(node, self.not_(), want=False)
        return node

    def not_(self) -> Node:
        if self.peek() == "!":
            self.take()
            inner = self.not_()
            return lambda result: not _boolean(inner(result))
        return self.compare()

    def compare(self) -> Node:
        node = self.sum_()
        if self.peek() in {"==", "!=", "<", "<=", ">", ">="}:
            op = self.take()
            return _comparison(op, node, self.sum_())
        return node

    def sum_(self) -> Node:
        node = self.product()
        while self.peek() in {"+", "-"}:
            node = _arithmetic(self.take(), node, self.product())
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.peek() in {"*", "/"}:
            node = _arithmetic(self.take(), node, self.unary())
        return node

    def unary(self) -> Node:
        if self.peek() == "-":
            self.take()
            inner = self.unary()
            return lambda result: -_number(inner(result))
        return self.postfix()

    def postfix(self) -> Node:
        node = self.primary()
        while self.peek() == "[":
            self.take()
            index = self.or_()
            self.take("]")
            node = _index(node, index)
        return node

    def primary(self) -> Node:
        lexeme = self.take()
        if lexeme == "(":
            node = self.or_()
            self.take(")")
            return node
        if lexeme[0].isdigit() or lexeme[0] == ".":
            number = float(lexeme)
            return lambda _: number
        if lexeme in {"true", "false"}:
            flag = lexeme == "true"
            return lambda _: flag
        if lexeme == "nil":
            return lambda _: None
        if lexeme == "result":
            return _result
        if lexeme in _FUNCTIONS:
            self.take("(")
            argument = self.or_()
            self.take(")")
            return _call(lexeme, argument)
        raise ExprError(f"unknown name {lexeme!r} in {self.text!r}")


def _result(result: object) -> Value:
    if result is None or isinstance(result, bool | float):
        return result
    if isinstance(result, list):
        return [float(item) for item in result]
    raise ExprError(f"unsupported result type {type(result).__name__}")


def _number(value: Value) -> float:
    if isinstance(value, bool) or not isinstance(value, float):
        raise ExprError(f"not a number: {value!r}")
    return value


def _boolean(value: Value) -> bool:
    if not isinstance(value, bool):
        raise ExprError(f"not a boolean: {value!r}")
    return value


def _logical(left: Node, right: Node, *, want: bool) -> Node:
    def evaluate(result: object) -> Value:
        if _boolean(left(result)) is want:  # short-circuit as Go does
            return want
        return _boolean(right(result))

    return evaluate


def _comparison(op: str, left: Node, right: Node) -> Node:
    def evaluate(result: object) -> Value:
        a, b = left(result), right(result)
        if op in {"==", "!="}:
            equal = a == b
            return equal if op == "==" else not equal
        x, y = _number(a), _number(b)
        return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]

    return evaluate


def _arithmetic(op: str, left: Node, right: Node) -> Node:
    def evaluate(result: object) -> Value:
        x, y = _number(left(result)), _number(right(result))
        if op == "+":
            return x + y
        if op == "-":
            return x - y
        if op == "*":
            return x * y
        if y == 0:
            return math.copysign(math.inf, x) if x else math.nan
        return x / y

    return evaluate


def _index(node: Node, index: Node) -> Node:
    def evaluate(result: object) -> Value:
        container, position = node(result), _number(index(result))
        if not isinstance(container, list):
            raise ExprError(f"cannot index {type(container).__name__}")
        actual = int(position) + len(container) if position < 0 else int(position)
        if position != int(position) or not 0 <= actual < len(container):
            raise ExprError(
                f"index out of range: {int(position)} with length {len(container)} "
                "(no data returned from the metric provider)"
            )
        return container[actual]

    return evaluate


def _call(name: str, argument: Node) -> Node:
    def evaluate(result: object) -> Value:
        value = argument(result)
        if name == "isNil":  # Argo's isNil ignores its argument: is the *result* nil?
            return result is None
        if name == "len":
            if not isinstance(value, list):
                raise ExprError(f"len of {type(value).__name__}")
            return float(len(value))
        number = _number(value)
        return math.isnan(number) if name == "isNaN" else math.isinf(number)

    return evaluate


@dataclass(frozen=True)
class Condition:
    """A parsed condition; `evaluate` returns a bool or raises ExprError."""

    text: str
    _node: Node

    @classmethod
    def parse(cls, text: str) -> Condition:
        return cls(text=text, _node=_Parser(text).parse())

    def evaluate(self, result: float | list[float]) -> bool:
        return _boolean(self._node(result))

    def __str__(self) -> str:
        return self.text
