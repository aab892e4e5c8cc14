"""MkDocs hook: placeholders such as ``runs/demo-<space>`` outside code show as written.

Python-Markdown passes ``<space>`` through as an HTML tag, which the browser then hides. The
generated configuration reference (docs/config.md, which must equal ``nas config show
--markdown``) has such placeholders in its tables, so they are escaped when the page is built
rather than in the file.
"""
from __future__ import annotations

import re

HTML_TAGS = {"a", "b", "br", "code", "details", "div", "em", "i", "img", "kbd", "p", "pre", "span",
             "strong", "sub", "summary", "sup", "table", "td", "th", "tr"}
CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")          # an inline code span
PLACEHOLDER = re.compile(r"<([A-Za-z][\w-]*)>")


def _escape(text: str) -> str:
    def one(m: re.Match) -> str:
        return m.group(0) if m.group(1).lower() in HTML_TAGS else f"&lt;{m.group(1)}&gt;"

    out, last = [], 0
    for m in CODE.finditer(text):
        out += [PLACEHOLDER.sub(one, text[last:m.start()]), m.group(0)]
        last = m.end()
    return "".join(out + [PLACEHOLDER.sub(one, text[last:])])


def on_page_markdown(markdown: str, page, config, files) -> str:
    lines, fence = [], False
    for line in markdown.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
        lines.append(line if fence else _escape(line))
    return "\n".join(lines)
