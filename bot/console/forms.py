"""Reading the console's urlencoded forms.

Parsed here rather than with `request.form()`: the console needs no file uploads, and this spares
a multipart dependency. A body over the limit yields an empty form, which every action refuses.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request

MAX_FORM = 32 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """The form of a POST, read once and kept on the request (the CSRF check reads it first)."""
    cached: dict[str, str] | None = getattr(request.state, "console_form", None)
    if cached is not None:
        return cached
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            break
    form: dict[str, str] = {}
    if len(body) <= MAX_FORM:
        parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=50)
        form = {key: values[0] for key, values in parsed.items()}
    request.state.console_form = form
    return form
