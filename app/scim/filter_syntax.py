"""The RFC 7644 §3.4.2.2 filter grammar and the §3.5.2 PATCH path grammar, parsed into a small
syntax tree. Operators, logical keywords and literals are case-insensitive; attribute paths are
kept as written and resolved against the schema later (app.scim.sqlfilter, app.scim.patch).

    FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
    valuePath = attrPath "[" valFilter "]"
    attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
    attrPath  = [URI ":"] ATTRNAME *1subAttr

Precedence: not, then and, then or; parentheses group. Also accepted, as Microsoft Entra sends
it: `emails[type eq "work"].value eq "x"`, read as `emails[type eq "work" and value eq "x"]`.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from app.scim.constants import MAX_FILTER_LENGTH
from app.scim.errors import ScimError, invalid_filter, invalid_path

OPERATORS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"})
MAX_DEPTH = 32  # nested parentheses / not(...)


@dataclass(frozen=True)
class Compare:
    path: str
    op: str
    value: Any  # str | int | float | bool | None


@dataclass(frozen=True)
class Present:
    path: str


@dataclass(frozen=True)
class And:
    left: Node
    right: Node


@dataclass(frozen=True)
class Or:
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    expr: Node


@dataclass(frozen=True)
class ValuePath:
    """`attr[filter]`: some value of the multi-valued `attr` matches `filter`, whose paths are
    sub-attribute names of `attr`."""

    path: str
    filter: Node


Node = Compare | Present | And | Or | Not | ValuePath


@dataclass(frozen=True)
class PatchPath:
    """`attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub` (attr may be URN-qualified)."""

    attr: str
    filter: Node | None = None
    sub: str | None = None


# ---- tokens ----

_WORD = re.compile(r"[A-Za-z$][A-Za-z0-9:._$-]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9A-Fa-f]{4})*"')
_SUB = re.compile(r"\.([A-Za-z$][A-Za-z0-9_$-]*)")


@dataclass(frozen=True)
class _Tok:
    kind: str  # word, string, number, "(", ")", "[", "]", sub, end
    text: str
    pos: int


def _tokenize(text: str, err: type[_ParseError]) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c in "()[":
            toks.append(_Tok(c, c, i))
            i += 1
        elif c == "]":
            toks.append(_Tok("]", c, i))
            i += 1
            m = _SUB.match(text, i)
            if m:
                toks.append(_Tok("sub", m.group(1), i))
                i = m.end()
        elif c == '"':
            m = _STRING.match(text, i)
            if not m:
                raise err(f"unterminated or invalid string at position {i + 1}")
            toks.append(_Tok("string", m.group(0), i))
            i = m.end()
        elif c == "-" or c.isdigit():
            m = _NUMBER.match(text, i)
            if not m:
                raise err(f"invalid number at position {i + 1}")
            toks.append(_Tok("number", m.group(0), i))
            i = m.end()
        else:
            m = _WORD.match(text, i)
            if not m:
                raise err(f"unexpected character {c!r} at position {i + 1}")
            toks.append(_Tok("word", m.group(0), i))
            i = m.end()
    toks.append(_Tok("end", "", n))
    return toks


class _ParseError(Exception):
    pass


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate such as "\ud800"
        return False
    return True


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text, _ParseError)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def _next(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def _is_kw(self, word: str, offset: int = 0) -> bool:
        t = self.toks[self.i + offset]
        return t.kind == "word" and t.text.lower() == word

    def _fail(self, what: str) -> _ParseError:
        t = self.tok
        found = "the end of the filter" if t.kind == "end" else repr(t.text)
        return _ParseError(f"expected {what} at position {t.pos + 1}, found {found}")

    def expr(self, inner: bool) -> Node:
        node = self.and_expr(inner)
        while self._is_kw("or"):
            self._next()
            node = Or(node, self.and_expr(inner))
        return node

    def and_expr(self, inner: bool) -> Node:
        node = self.not_expr(inner)
        while self._is_kw("and"):
            self._next()
            node = And(node, self.not_expr(inner))
        return node

    def not_expr(self, inner: bool) -> Node:
        if self._is_kw("not") and self.toks[self.i + 1].kind == "(":
            self._next()
            return Not(self.group(inner))
        return self.primary(inner)

    def group(self, inner: bool) -> Node:
        if self.tok.kind != "(":
            raise self._fail("'('")
        self._next()
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _ParseError(f"parentheses are nested more than {MAX_DEPTH} deep")
        node = self.expr(inner)
        self.depth -= 1
        if self.tok.kind != ")":
            raise self._fail("')'")
        self._next()
        return node

    def primary(self, inner: bool) -> Node:
        if self.tok.kind == "(":
            return self.group(inner)
        if self.tok.kind != "word":
            raise self._fail("an attribute name")
        path = self._next().text
        if self.tok.kind == "[":
            if inner:
                raise _ParseError(f"value filters cannot be nested (at {path!r})")
            self._next()
            sub_filter = self.expr(True)
            if self.tok.kind != "]":
                raise self._fail("']'")
            self._next()
            node: Node = ValuePath(path, sub_filter)
            if self.tok.kind == "sub":  # Entra: emails[type eq "work"].value eq "x"
                sub = self._next().text
                return ValuePath(path, And(sub_filter, self.attr_exp(sub)))
            return node
        return self.attr_exp(path)

    def attr_exp(self, path: str) -> Node:
        if self._is_kw("pr"):
            self._next()
            return Present(path)
        t = self.tok
        if t.kind != "word" or t.text.lower() not in OPERATORS:
            raise self._fail(f"an operator (eq ne co sw ew gt ge lt le pr) after {path!r}")
        op = self._next().text.lower()
        return Compare(path, op, self.value())

    def value(self) -> Any:
        t = self._next()
        if t.kind == "string":
            value = json.loads(t.text)
            if "\x00" in value or not _encodable(value):
                raise _ParseError(f"the string at position {t.pos + 1} is not valid text")
            return value
        if t.kind == "number":
            return float(t.text) if any(c in t.text for c in ".eE") else int(t.text)
        if t.kind == "word":
            low = t.text.lower()
            if low in ("true", "false"):
                return low == "true"
            if low == "null":
                return None
        self.i -= 1
        raise self._fail('a value (a "string", a number, true, false or null)')


@functools.lru_cache(maxsize=2048)
def parse_filter(text: str) -> Node:
    """Parse a filter; a bad one raises a 400 invalidFilter naming what is wrong. Cached by
    its text (the tree is immutable; an identity provider repeats the same few filter shapes
    with different values, and a refused filter is not cached)."""
    if not text or not text.strip():
        raise invalid_filter("The filter is empty.")
    if len(text) > MAX_FILTER_LENGTH:
        raise invalid_filter(f"The filter is longer than {MAX_FILTER_LENGTH} characters.")
    try:
        p = _Parser(text)
        node = p.expr(False)
        if p.tok.kind != "end":
            raise p._fail("'and', 'or' or the end of the filter")
        return node
    except _ParseError as exc:
        raise invalid_filter(f"Invalid filter {text!r}: {exc}.") from None


def parse_path(text: str) -> PatchPath:
    """Parse a PATCH `path`; a bad one raises a 400 invalidPath."""
    if not isinstance(text, str) or not text.strip():
        raise invalid_path("The path is empty.")
    try:
        p = _Parser(text)
        if p.tok.kind != "word":
            raise p._fail("an attribute name")
        attr = p._next().text
        flt: Node | None = None
        sub: str | None = None
        if p.tok.kind == "[":
            p._next()
            flt = p.expr(True)
            if p.tok.kind != "]":
                raise p._fail("']'")
            p._next()
            if p.tok.kind == "sub":
                sub = p._next().text
        if p.tok.kind != "end":
            raise p._fail("the end of the path")
        return PatchPath(attr, flt, sub)
    except _ParseError as exc:
        raise invalid_path(f"Invalid path {text!r}: {exc}.") from None
    except ScimError:
        raise
