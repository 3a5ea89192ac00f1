"""Parsing XML from other installations, and validating it against an XML Schema.

The parser turns off everything that lets a document reach outside itself or grow
without bound: entity resolution (XXE, billion laughs), DTD loading, network access and
libxml2's huge-tree mode. A document with any DOCTYPE is rejected outright, because the
sync formats never need one. The size cap applies before libxml2 reads a byte.
"""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

from portal.errors import PortalError

# The largest request body a master accepts, and so the largest batch a child builds.
MAX_DOCUMENT_BYTES = 8 * 1024 * 1024

# A DOCTYPE anywhere before the root element; the check after parsing catches the rest.
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
# XML 1.0 forbids these characters even as character references.
_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class XmlRejected(PortalError):
    """A document that is too large, not well-formed, has a DOCTYPE, or breaks its
    schema."""

    code = "malformed_xml"
    status = 400


def _parser(*, utf8: bool = False) -> etree.XMLParser:
    # A new parser per call: lxml parsers keep state and must not be shared by threads.
    # `utf8` decodes the bytes as UTF-8 whatever the XML declaration says, so a document
    # that declares another encoding is read as UTF-8 and rejected when it is not.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_comments=True,
                           remove_pis=True, collect_ids=False,
                           encoding="utf-8" if utf8 else None)


def parse_untrusted_xml(data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> etree._Element:
    """Parse XML from another installation and return its root element.

    Raises XmlRejected with the code `too_large` (413) above `max_bytes`,
    `doctype_forbidden` for any DOCTYPE, and `malformed_xml` for a document that is not
    well-formed UTF-8 XML.
    """
    if len(data) > max_bytes:
        raise XmlRejected(f"The document has {len(data)} bytes, more than the limit of "
                          f"{max_bytes}; send smaller batches.", code="too_large", status=413)
    if data.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00", b"\x3c\x00")):
        raise XmlRejected("The document is not UTF-8; encode it as UTF-8.",
                          code="malformed_xml")
    if _DOCTYPE.search(data):
        raise _doctype_error()
    try:
        tree = etree.ElementTree(etree.fromstring(data, parser=_parser(utf8=True)))
    except etree.XMLSyntaxError as error:
        line, column = error.position
        raise XmlRejected(f"The document is not well-formed UTF-8 XML at line {line}, "
                          f"column {column}: {error.msg.split(', line ')[0]}; send "
                          "well-formed UTF-8 XML.", code="malformed_xml") from error
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise _doctype_error()
    return tree.getroot()


def _doctype_error() -> XmlRejected:
    return XmlRejected("The document has a DOCTYPE; sync documents must not declare one.",
                       code="doctype_forbidden")


def load_schema(path: Path) -> etree.XMLSchema:
    """Load an XML Schema that ships with the code (trusted, local, without network)."""
    return etree.XMLSchema(etree.parse(str(path), parser=_parser()))


def check_valid(schema: etree.XMLSchema, element: etree._Element, *, what: str) -> None:
    """Raise XmlRejected (code `schema_violation`, 422) naming the first error when
    `element` does not satisfy `schema`."""
    if schema.validate(element):
        return
    error = schema.error_log.last_error
    detail = (f"line {error.line}: {error.message.rstrip('. ')}" if error is not None
              else "invalid")
    raise XmlRejected(f"The {what} breaks its XML Schema at {detail}.",
                      code="schema_violation", status=422)


def xml_text(value: str) -> str:
    """Return `value` with the characters XML 1.0 cannot carry replaced by U+FFFD."""
    return _INVALID_XML_CHARS.sub("\ufffd", value)
