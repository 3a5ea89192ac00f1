"""Text of mail parts: charset decoding with fallbacks, HTML sanitizing and HTML to text.

Nothing here raises for bad content. A decoder that had to guess returns a defect string
that the parser records on the message.
"""

from __future__ import annotations

import codecs
import html
import re
from html.parser import HTMLParser

import nh3

# Labels seen in real mail that Python's codec registry does not know, or that name a
# subset of what senders really use. GB2312 and GBK text is valid GB18030, and browsers
# decode ISO-8859-1 and US-ASCII as windows-1252 (WHATWG Encoding Standard), because
# senders put the C1 range's windows-1252 characters into mail labelled with them.
CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "ks_c_5601-1987": "cp949",
    "x-sjis": "shift_jis",
    "windows-874": "cp874",
    "utf8": "utf-8",
}
# Labels that say "unknown" rather than name a charset.
UNKNOWN_CHARSETS = frozenset({"", "unknown", "unknown-8bit", "x-unknown", "default",
                              "charset", "x-user-defined"})
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""",
                           re.IGNORECASE)


def normalize_charset(label: str | None) -> str:
    """Return a charset label lowercased, without quotes, spaces or an RFC 2231 language."""
    if not label:
        return ""
    text = label.strip().strip("\"'").strip().lower()
    return text.split("*", 1)[0]


def decode_bytes(data: bytes, label: str | None) -> tuple[str, str | None]:
    """Decode `data` with the charset `label`, then UTF-8, then windows-1252 with
    replacement characters. Return the text and a defect when the label did not fit."""
    charset = normalize_charset(label)
    charset = CHARSET_ALIASES.get(charset, charset)
    defect: str | None = None
    if charset not in UNKNOWN_CHARSETS:
        try:
            return data.decode(codecs.lookup(charset).name), None
        except LookupError:
            defect = f"unknown charset {label!r}"
        except UnicodeDecodeError:
            defect = f"text is not valid {label!r}"
    elif data.isascii():
        return data.decode("ascii"), None
    try:
        return data.decode("utf-8"), defect
    except UnicodeDecodeError:
        pass
    fallback = f"decoded as windows-1252 after {defect or 'no usable charset label'}"
    return data.decode("cp1252", errors="replace"), fallback


def html_charset(data: bytes) -> str | None:
    """Return the charset that an HTML document declares in a <meta> tag near its start."""
    match = _META_CHARSET.search(data[:4096])
    return match.group(1).decode("ascii") if match else None


def decode_surrogates(value: str) -> str:
    """Return header text whose raw 8-bit bytes (kept by the parser as surrogate escapes)
    are decoded as UTF-8, or windows-1252 when they are not UTF-8."""
    if not any("\udc80" <= char <= "\udcff" for char in value):
        return value
    raw = value.encode("ascii", "surrogateescape")
    return decode_bytes(raw, "utf-8")[0]


def unflow(text: str, *, delete_space: bool) -> str:
    """Join the soft line breaks of format=flowed text (RFC 3676): a line that ends in a
    space continues on the next line. Quoted lines keep their quote marks."""
    lines: list[str] = []
    current: str | None = None
    for line in text.split("\n"):
        if line == "-- ":
            if current is not None:
                lines.append(current)
                current = None
            lines.append(line)
            continue
        if line.startswith(" "):
            line = line[1:]  # Space-stuffing, as RFC 3676 section 4.4 defines it.
        if current is None:
            current = line
        else:
            current += line
        if current.endswith(" "):
            if delete_space:
                current = current[:-1]
            continue
        lines.append(current)
        current = None
    if current is not None:
        lines.append(current)
    return "\n".join(lines)


# The tags and attributes that sanitized mail HTML keeps. Scripts, styles, forms, frames
# and event handlers are removed; links get rel="noopener noreferrer".
ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup",
    "dd", "del", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "q", "s", "small", "span", "strike",
    "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
})
ALLOWED_ATTRIBUTES = {
    "*": {"align", "dir", "lang", "title"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "font": {"color"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto", "cid"})


def _filter_attribute(element: str, attribute: str, value: str) -> str | None:
    # Remote images would tell the sender when and where an agent opened the mail, so an
    # image may only show a part of the same message (cid:).
    if element == "img" and attribute == "src" and not value.strip().lower().startswith("cid:"):
        return None
    return value


def sanitize_html(markup: str) -> str:
    """Return `markup` (a document or a fragment) reduced to safe formatting tags."""
    return nh3.clean(
        markup, tags=set(ALLOWED_TAGS), attributes={k: set(v) for k, v in
                                                     ALLOWED_ATTRIBUTES.items()},
        clean_content_tags={"script", "style", "title", "head", "template", "noscript"},
        attribute_filter=_filter_attribute, url_schemes=set(URL_SCHEMES),
    ).strip()


_BLOCK_TAGS = frozenset({"address", "article", "aside", "blockquote", "div", "dl", "dt",
                         "dd", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
                         "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section",
                         "table", "tr", "ul"})
_SKIPPED_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript"})


class _TextExtractor(HTMLParser):
    """Collects the visible text of HTML, one line per block, with "> " before each line
    inside a <blockquote> so that quoted history looks like quoted plain text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.quote_depth = 0
        self.skip_depth = 0
        self.pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self.skip_depth += 1
        elif tag == "br":
            self._break()
        elif tag in _BLOCK_TAGS:
            self._break()
            if tag == "blockquote":
                self.quote_depth += 1
            elif tag == "li":
                self.current.append("- ")
            elif tag == "pre":
                self.pre_depth += 1
        elif tag in ("td", "th") and self.current:
            self.current.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self._break()
            if tag == "blockquote":
                self.quote_depth = max(0, self.quote_depth - 1)
            elif tag == "pre":
                self.pre_depth = max(0, self.pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if self.pre_depth:
            parts = data.split("\n")
            for index, part in enumerate(parts):
                if index:
                    self._break()
                self.current.append(part)
            return
        self.current.append(re.sub(r"\s+", " ", data))

    def _break(self) -> None:
        line = "".join(self.current).strip()
        self.current = []
        prefix = "> " * self.quote_depth
        if line or (self.lines and self.lines[-1].strip("> ")):
            self.lines.append((prefix + line).rstrip())

    def text(self) -> str:
        self._break()
        return re.sub(r"\n{3,}", "\n\n", "\n".join(self.lines)).strip()


def html_to_text(markup: str) -> str:
    """Return the readable text of HTML for search, rules and plain-text display."""
    extractor = _TextExtractor()
    try:
        extractor.feed(markup)
        extractor.close()
    except (AssertionError, ValueError):
        # html.parser raises these for a few malformed declarations; fall back to
        # dropping every tag.
        return html.unescape(re.sub(r"<[^>]*>", " ", markup)).strip()
    return extractor.text()
