"""Syntax colouring of the pages' code blocks, server-side with Pygments (a dependency
of rich, so always installed; imported on first use to keep `edge` start-up lean).

The colours are CSS in `templates/_style.css` (classes `.k`, `.s2`, `.nt`, ...), so no
stylesheet is fetched from anywhere.
"""

from __future__ import annotations

from functools import lru_cache

from markupsafe import Markup, escape

_LEXERS = {"python": "python", "shell": "bash", "toml": "toml", "json": "json"}


@lru_cache(maxsize=256)
def highlight(code: str, language: str) -> Markup:
    """`code` as HTML spans (escaped); plain escaped text for unknown languages."""
    name = _LEXERS.get(language)
    if name is None:
        return escape(code)
    try:
        from pygments import highlight as render
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import get_lexer_by_name
    except ImportError:  # colouring is a nicety: the code itself always shows
        return escape(code)
    html = render(code, get_lexer_by_name(name), HtmlFormatter(nowrap=True))
    # Pygments ends with a newline the <pre> would show as an empty last line
    return Markup(html.rstrip("\n"))
