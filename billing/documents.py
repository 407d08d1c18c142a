"""PDF documents (the price table now; invoices, receipts and statements later) from HTML.

The app renders a Jinja template to HTML (the same template is viewable in the browser) and hands
it here. WeasyPrint lays it out with the fonts the template's CSS names (a Japanese font such as
IPAexGothic or Noto Sans CJK JP, so no tofu) and subsets them with HarfBuzz, which keeps a
Japanese page at a fraction of a second. Rendering is CPU work: call it off the event loop
(`await asyncio.to_thread(render_pdf, html)`).
"""

from __future__ import annotations

from datetime import datetime

from weasyprint import HTML


def render_pdf(html: str, *, base_url: str | None = None, created: datetime | None = None) -> bytes:
    """The PDF of an HTML document. `created` fixes the PDF's creation date, so re-rendering a
    stored document gives the same bytes (without it the document carries no date)."""
    document = HTML(string=html, base_url=base_url).render()
    document.metadata.created = created.isoformat() if created else None
    document.metadata.modified = document.metadata.created
    return document.write_pdf()
