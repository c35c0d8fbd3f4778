"""Writing and reading the small XML documents of the S3 API.

Documents are built as strings from nested ``(name, content)`` pieces: S3's documents are
flat and small, and string building keeps the element order S3 uses (clients such as
botocore do not care, but people comparing responses do).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from fcompute.objectstore.s3.errors import MalformedXML

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
# Characters XML 1.0 cannot carry literally; S3 writes them as character references
# (which strict parsers then refuse: that is why clients ask for encoding-type=url).
_AWKWARD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff&<>\"\r]")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}

Content = str | int | bool | Iterable[str] | None


def escape(text: str) -> str:
    return _AWKWARD.sub(lambda m: _ENTITIES.get(m.group(), f"&#x{ord(m.group()):x};"), text)


def element(name: str, content: Content) -> str:
    """``<name>content</name>``: text is escaped, bools are written as S3 writes them,
    an iterable holds child elements already rendered, None leaves the element out."""
    if content is None:
        return ""
    if isinstance(content, bool):
        inner = "true" if content else "false"
    elif isinstance(content, int):
        inner = str(content)
    elif isinstance(content, str):
        inner = escape(content)
    else:
        inner = "".join(content)
    return f"<{name}>{inner}</{name}>"


def elements(*pairs: tuple[str, Content]) -> list[str]:
    return [element(name, content) for name, content in pairs]


def document(root: str, children: Iterable[str], *, namespace: bool = True) -> bytes:
    attributes = f' xmlns="{NAMESPACE}"' if namespace else ""
    return f"{DECLARATION}<{root}{attributes}>{''.join(children)}</{root}>".encode()


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def parse(body: bytes, root: str) -> ET.Element:
    """The request document's root element, which must be named ``root`` (namespace or
    not); anything else is S3's MalformedXML."""
    try:
        tree = ET.fromstring(body)
    except ET.ParseError as exc:
        raise MalformedXML(f"the XML you provided was not well-formed ({exc})") from None
    if _local(tree.tag) != root:
        raise MalformedXML(f"the XML document's root element must be {root}, not "
                           f"{_local(tree.tag)}")
    return tree


def children(parent: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in parent if _local(child.tag) == name]


def text(parent: ET.Element, name: str) -> str | None:
    """The text of the first child called ``name`` ("" when empty, None when absent)."""
    for child in parent:
        if _local(child.tag) == name:
            return child.text or ""
    return None
