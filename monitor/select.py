"""CSS selectors (a page's `select` and `remove`) matched in one walk of the tree.

lxml's CSSSelector turns a selector into one XPath expression, and libxml2 evaluates `div main`
as the descendants of every div, merged: on 2,000 nested divs around 35,000 mains that runs for
many minutes, in C, where no checkpoint can stop it. Here each compound selector (`li.x:not(.y)`)
becomes an XPath test of one element, and the combinators (` `, `>`, `+`, `~`) are followed
during a single walk of the tree with what each open element's ancestors and earlier siblings
matched: a few tests per element, however the page nests. Sibling positions (`:nth-child()`,
`:first-of-type` and the rest) come from the walk as well, where XPath would count siblings for
every element. Selectors whose test would look beyond the element (`:has()`, `:contains()`) are
refused, so a selector's cost is linear in the page.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cssselect import SelectorError, parse
from cssselect.parser import CombinedSelector
from lxml import etree
from lxml.cssselect import CSSSelector, LxmlTranslator

from monitor.budget import UNLIMITED, Budget

_TRANSLATOR = LxmlTranslator()  # what lxml's CSSSelector uses by default: same matching as before
_LITERAL = re.compile(r"'[^']*'|\"[^\"]*\"")
_NAME_ONLY = re.compile(r"self::([A-Za-z_][\w.-]*)")
# What reads beyond the element's own name and attributes: other nodes (paths, axes) or its
# text (string(), or a function given the context node ".").
_REACHES = re.compile(r"/|::|(?<![\w-])string\(|\(\s*\.\s*[,)]")


class _Test:
    """Does one element match one compound selector?"""

    def __init__(self, compound: Any):
        expr = _TRANSLATOR.xpath(compound)
        element = expr.element
        text = "self::" + str(expr)
        # The translator counts siblings in XPath; the walk knows those counts already.
        for axis, name in (("preceding", "before"), ("following", "after")):
            text = text.replace(f"count({axis}-sibling::*)", f"${name}")
            if element != "*":
                text = text.replace(f"count({axis}-sibling::{element})", f"${name}_type")
        _check_local(text)
        self.positional = "$" in text
        name = _NAME_ONLY.fullmatch(text)
        self.tag = "*" if text == "self::*" else (name.group(1) if name else None)
        self.xpath = None if self.tag else etree.XPath(f"boolean({text})")

    def __call__(self, element: etree._Element, position: dict[str, int] | None) -> bool:
        if self.tag is not None:
            return self.tag == "*" or element.tag == self.tag
        assert self.xpath is not None
        return bool(self.xpath(element, **position) if self.positional and position else self.xpath(element))


def _check_local(text: str) -> None:
    """Refuse a test that would look beyond its element: its cost would grow with the page."""
    bare = _LITERAL.sub("''", text).removeprefix("self::").replace("parent::*", "")  # parent::*: :root
    if _REACHES.search(bare):
        raise SelectorError("pseudo-classes that look at other elements or at text (:has(), :contains()) "
                            "are not supported: their cost grows with the square of the page")


@dataclass(frozen=True)
class _Step:
    combinator: str | None  # None: the first compound of its selector
    test: _Test
    last: bool  # the subject: an element matching it is selected


def _chain(tree: Any) -> list[tuple[str | None, Any]]:
    """`a > b c` -> [(None, a), ('>', b), (' ', c)]."""
    steps: list[tuple[str | None, Any]] = []
    while isinstance(tree, CombinedSelector):
        steps.append((tree.combinator, tree.subselector))
        tree = tree.selector
    steps.append((None, tree))
    return steps[::-1]


@dataclass
class _Open:
    """An open element during the walk, as its children see it."""

    matched: int = 0  # steps this element matched (bit i: step i)
    inherited: int = 0  # steps matched by any of its ancestors
    previous: int = 0  # steps matched by the last child closed so far
    earlier: int = 0  # steps matched by any child closed so far
    index: int = 0  # element children started so far
    element: etree._Element | None = None
    counts: Counter[str] | None = None  # element children per tag, when a test needs positions
    total: int = 0  # element children
    seen: Counter[str] = field(default_factory=Counter)  # children per tag started so far


class Selector:
    """A CSS selector group (`"a, b > c"`); calling it returns the matching elements in
    document order. Raises cssselect's SelectorError for what it cannot or will not match."""

    def __init__(self, css: str):
        self.css = css
        steps: list[_Step] = []
        for selector in parse(css):
            if selector.pseudo_element:
                raise SelectorError(f"pseudo-element ::{selector.pseudo_element} selects no element")
            chain = _chain(selector.parsed_tree)
            steps += [_Step(combinator, _Test(compound), index == len(chain) - 1)
                      for index, (combinator, compound) in enumerate(chain)]
        self.steps = steps
        self.positional = any(step.test.positional for step in steps)
        self.subjects = sum(1 << i for i, step in enumerate(steps) if step.last)
        # No combinator and no sibling position: one XPath pass over the elements, in C, is as
        # linear as the walk and faster.
        self.xpath = None if self.positional or any(step.combinator for step in steps) else CSSSelector(css)

    def __call__(self, root: etree._Element, budget: Budget = UNLIMITED) -> list[etree._Element]:
        if self.xpath is not None:
            return list(self.xpath(root))
        found: list[etree._Element] = []
        stack = [_Open()]
        for event, element in etree.iterwalk(root, events=("start", "end")):
            if not isinstance(element.tag, str):
                continue
            budget.tick()
            parent = stack[-1]
            if event == "end":
                closed = stack.pop()
                parent = stack[-1]
                parent.previous = closed.matched
                parent.earlier |= closed.matched
                continue
            inherited = parent.inherited | parent.matched
            position = self._position(parent, element) if self.positional else None
            parent.index += 1
            # What each combinator relates this element to: steps matched there.
            related = {" ": inherited, ">": parent.matched, "+": parent.previous, "~": parent.earlier}
            matched = 0
            for bit, step in enumerate(self.steps):
                if step.combinator is not None and not related[step.combinator] & (1 << (bit - 1)):
                    continue
                if step.test(element, position):
                    matched |= 1 << bit
            if matched & self.subjects:
                found.append(element)
            stack.append(_Open(matched=matched, inherited=inherited, element=element))
        return found

    @staticmethod
    def _position(parent: _Open, element: etree._Element) -> dict[str, int]:
        """Where `element` stands among its parent's element children (the root has no siblings)."""
        if parent.element is None:
            return {"before": 0, "after": 0, "before_type": 0, "after_type": 0}
        if parent.counts is None:
            parent.counts = Counter(child.tag for child in parent.element if isinstance(child.tag, str))
            parent.total = sum(parent.counts.values())
        tag = element.tag
        before_type = parent.seen[tag]
        parent.seen[tag] += 1
        return {"before": parent.index, "after": parent.total - parent.index - 1,
                "before_type": before_type, "after_type": parent.counts[tag] - before_type - 1}
