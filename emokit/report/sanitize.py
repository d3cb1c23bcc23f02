"""Allowlist sanitising of the report's HTML (nh3, the Rust ``ammonia`` sanitizer).

Notebook outputs reach the report as HTML: text/html from pandas, Markdown rendered by nbconvert (the chat
chapter shows a transcript holding raw user and model text), images. Whatever they hold, the page keeps only
the tags and attributes below: no script, no event handler (``onerror``, ``onload``...), no ``iframe`` /
``object`` / ``embed`` / ``form`` / ``style`` element, no ``javascript:`` URL; images only as embedded
``data:image/...`` URIs; links only to http(s), mailto or in-page anchors. Inline ``style`` attributes keep
only the layout and colour properties listed (none that can load a URL).
"""
from __future__ import annotations

import nh3

TAGS = (set(nh3.ALLOWED_TAGS) | {"section", "main", "label", "input"}) - {"area", "map"}
# <input> stays only as a disabled checkbox (Markdown task lists); see tag_attribute_values below
GLOBAL_ATTRS = {"class", "id", "title", "style", "lang", "dir", "tabindex", "role", "aria-label", "aria-hidden"}
ATTRS = {
    "*": GLOBAL_ATTRS,
    "a": {"href", "name", "target"},
    "img": {"src", "alt", "width", "height", "loading"},
    "td": {"colspan", "rowspan", "align", "valign"},
    "th": {"colspan", "rowspan", "align", "valign", "scope"},
    "col": {"span", "width"}, "colgroup": {"span"},
    "ol": {"start", "type", "reversed"}, "li": {"value"},
    "details": {"open"}, "time": {"datetime"}, "data": {"value"},
    "label": {"for"}, "input": {"checked"},
}
TAG_ATTR_VALUES = {"input": {"type": {"checkbox"}, "disabled": {"", "disabled"}}}
URL_SCHEMES = {"http", "https", "mailto", "data"}
STYLE_PROPERTIES = {
    "color", "background-color", "border", "border-top", "border-bottom", "border-left", "border-right",
    "border-color", "border-radius", "border-collapse", "border-spacing", "padding", "padding-left",
    "padding-right", "padding-top", "padding-bottom", "margin", "margin-left", "margin-right", "margin-top",
    "margin-bottom", "width", "min-width", "max-width", "height", "min-height", "max-height", "display",
    "vertical-align", "text-align", "white-space", "font-size", "font-weight", "font-style", "font-family",
    "line-height", "overflow", "overflow-x", "overflow-y", "overflow-wrap", "word-break", "opacity", "float",
    "clear", "gap", "flex", "flex-direction", "flex-wrap", "justify-content", "align-items",
    "text-decoration", "list-style", "list-style-type", "table-layout", "box-shadow",
}


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if attr == "src":  # only embedded images: never a request to anywhere, never an executable data: type
        return value if tag == "img" and value.lower().startswith("data:image/") and \
            not value.lower().startswith("data:image/svg") else None
    if attr == "href":
        v = value.strip().lower()
        return value if v.startswith(("http://", "https://", "mailto:", "#")) else None
    return value


def sanitize_html(fragment: str) -> str:
    """``fragment`` with everything outside the allowlist removed (text is kept, escaped)."""
    return nh3.clean(fragment, tags=TAGS, attributes=ATTRS, attribute_filter=_attribute_filter,
                     url_schemes=URL_SCHEMES, generic_attribute_prefixes={"data-"},
                     tag_attribute_values=TAG_ATTR_VALUES, filter_style_properties=STYLE_PROPERTIES,
                     strip_comments=True, link_rel="noopener noreferrer")
