"""The XML of the OSS API: documents rendered for responses, and the few request bodies
(batch delete, multipart completion, bucket configuration) read back.

A document is written as nested ``(tag, value)`` pairs, so a handler reads like the
XML it sends; oss2's parsers fail on a missing element, so every element they require
is spelled out by the handler that sends it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from typing import TypeAlias

from fcompute.objectstore import errors

Value: TypeAlias = "str | int | bool | Sequence[Node]"
Node: TypeAlias = "tuple[str, Value]"
DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def _render(node: Node, out: list[str]) -> None:
    tag, value = node
    if isinstance(value, bool):
        out.append(f"<{tag}>{'true' if value else 'false'}</{tag}>")
    elif isinstance(value, int):
        out.append(f"<{tag}>{value}</{tag}>")
    elif isinstance(value, str):
        out.append(f"<{tag}>{escape(value)}</{tag}>" if value else f"<{tag}></{tag}>")
    else:
        out.append(f"<{tag}>")
        for child in value:
            _render(child, out)
        out.append(f"</{tag}>")


def document(root: str, children: Value) -> bytes:
    out: list[str] = []
    _render((root, children), out)
    return DECLARATION + "".join(out).encode("utf-8")


def parse(body: bytes, root: str) -> ElementTree.Element:
    """A small request body as an element tree, namespaces dropped; MalformedXML when it
    is not XML or its root is not ``root``."""
    # No DTDs: entity definitions are the way XML bombs and external entities come in.
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise errors.StorageError("document type declarations are not accepted",
                                  code="MalformedXML")
    try:
        tree = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise errors.StorageError(f"the XML you provided is not well-formed: {exc}",
                                  code="MalformedXML") from None
    for element in tree.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.split("}", 1)[1]
    if tree.tag != root:
        raise errors.StorageError(f"the XML document must have a <{root}> root, not "
                                  f"<{tree.tag}>", code="MalformedXML")
    return tree


def text_of(element: ElementTree.Element, path: str) -> str | None:
    child = element.find(path)
    if child is None:
        return None
    return child.text or ""
