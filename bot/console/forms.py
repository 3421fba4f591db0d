"""Reading the console's urlencoded forms.

Parsed here rather than with `request.form()`: the console needs no file uploads, and this spares
a multipart dependency. A body over the limit yields an empty form, which every action refuses.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request

from bot.web.bodies import read_body

MAX_FORM = 32 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """The form of a POST, read once and kept on the request (the CSRF check reads it first)."""
    cached: dict[str, str] | None = getattr(request.state, "console_form", None)
    if cached is not None:
        return cached
    body = await read_body(request, MAX_FORM)
    form: dict[str, str] = {}
    if body is not None:
        parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=50)
        form = {key: values[0] for key, values in parsed.items()}
    request.state.console_form = form
    return form
