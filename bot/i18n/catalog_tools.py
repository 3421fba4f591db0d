"""Extract, update and compile the gettext catalogs with Babel.

Two domains: `messages` (UI strings marked with `_()` in `bot/`) and `content` (every translatable
field of `content/`, with the context `<kind>:<id>:<field>`). Updating keeps translators' work: a
changed German source turns its translation stale (`fuzzy`, with the old German kept as `#| msgid`
for the translator to compare) instead of dropping it; see `bot.i18n.coverage` for the states.
"""

from __future__ import annotations

import io
import os
import re
import stat
import tempfile
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import normalize, read_po, write_po

from bot.config import PROJECT_ROOT, Settings
from bot.i18n.catalogs import DOMAINS
from bot.i18n.coverage import USED_STATES, catalog_path, entry_state, first_string, read_catalog
from bot.i18n.languages import TRANSLATED_LANGUAGES
from bot.knowledge.content import load_content


def _template(domain: str) -> Catalog:
    return Catalog(project="Lotse", version="0.1", domain=domain, msgid_bugs_address="", charset="utf-8")


def extract_messages() -> Catalog:
    catalog = _template("messages")
    method_map = [("bot/**.py", "python")]
    for filename, lineno, message, comments, context in extract_from_dir(
        str(PROJECT_ROOT),
        method_map=method_map,
        keywords={"_": None, "N_": None},
        comment_tags=("TRANSLATORS:",),
    ):
        if not filename.startswith("bot"):
            continue
        catalog.add(message, locations=[(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def extract_content(settings: Settings) -> Catalog:
    catalog = _template("content")
    for string in load_content(settings.content_dir).strings:
        catalog.add(string.text, locations=[(string.path, string.line)], context=string.context)
    return catalog


def extract(settings: Settings) -> list[Path]:
    settings.locales_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for domain, catalog in (("messages", extract_messages()), ("content", extract_content(settings))):
        path = settings.locales_dir / f"{domain}.pot"
        with path.open("wb") as handle:
            write_po(handle, catalog, width=100, sort_output=False, omit_header=False)
        written.append(path)
    return written


WIDTH = 100
_PREVIOUS_MARK = "lotse-previous-"  # a temporary flag: where the `#|` lines of an entry go
_FLAGS_LINE = re.compile(r"^#, (.*)\n", re.MULTILINE)


def write_catalog(path: Path, catalog: Catalog) -> None:
    """Write a language's catalog the one way every command does, so that diffs show only changes.

    Previous ids are written (`#| msgid`): they are what makes a changed entry stale rather than a
    draft, and what a translator compares. The file is replaced in one step, so that an interrupted
    run, or `lotse serve` reloading while it writes, never sees half a catalog.
    """
    data = _po_bytes(catalog)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.chmod(name, mode)  # mkstemp's file is private to its owner; a catalog is not
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def _po_bytes(catalog: Catalog) -> bytes:
    """The `.po` text, with previous ids in gettext's syntax.

    Babel's `write_po(include_previous=True)` wraps the quoted previous German like prose, so a
    long or multi-line one comes out as `#|` lines that no gettext tool (nor Babel) can read back.
    Babel writes the entries here without them, each entry with a previous id carrying a temporary
    flag, and the `#|` lines go in after that entry's flags, where gettext puts them.
    """
    marked: dict[str, Message] = {}
    for message in catalog:
        if message.id and message.previous_id:
            flag = f"{_PREVIOUS_MARK}{len(marked)}"
            message.flags.add(flag)
            marked[flag] = message
    buffer = io.BytesIO()
    try:
        write_po(buffer, catalog, width=WIDTH, sort_output=False, ignore_obsolete=True)
    finally:
        for flag, message in marked.items():
            message.flags.discard(flag)
    text = buffer.getvalue().decode(catalog.charset)

    def with_previous(line: re.Match[str]) -> str:
        flags = line.group(1).split(", ")
        mark = next((flag for flag in flags if flag.startswith(_PREVIOUS_MARK)), None)
        if mark is None:
            return line.group(0)
        kept = [flag for flag in flags if flag != mark]
        previous = marked[mark].previous_id
        comments = _previous_lines("msgid", previous[0])
        if len(previous) > 1:
            comments += _previous_lines("msgid_plural", previous[1])
        return (f"#, {', '.join(kept)}\n" if kept else "") + comments

    return _FLAGS_LINE.sub(with_previous, text).encode(catalog.charset)


def _previous_lines(keyword: str, german: str) -> str:
    lines = normalize(german, width=WIDTH - len("#| ")).split("\n")
    return f"#| {keyword} {lines[0]}\n" + "".join(f"#| {line}\n" for line in lines[1:])


def update(settings: Settings, languages: list[str] | None = None) -> list[Path]:
    """Bring every language's catalogs in line with the templates (extracting them first)."""
    extract(settings)
    written = []
    for lang in languages or list(TRANSLATED_LANGUAGES):
        for domain in DOMAINS:
            with (settings.locales_dir / f"{domain}.pot").open("rb") as handle:
                template = read_po(handle)
            path = catalog_path(settings.locales_dir, lang, domain)
            if path.exists():
                catalog = merge(read_catalog(path, lang, domain), template, domain)
            else:
                catalog = Catalog(locale=lang, domain=domain, project="Lotse", charset="utf-8")
                catalog.update(template)
            write_catalog(path, catalog)
            written.append(path)
    return written


Key = tuple[str | None, str]


def _key(message: Message) -> Key:
    return (message.context, first_string(message.id))


def merge(catalog: Catalog, template: Catalog, domain: str) -> Catalog:
    """`catalog` updated to `template`, losing no translation a translator may still need.

    Babel's `Catalog.update` does most of it; this corrects where it would lose or misstate work:
    - it drops the previous id of an entry whose German did not change, which would turn a stale
      draft back into a usable draft: an entry that did not change keeps its previous id (and its
      flags and comments, which Babel keeps);
    - a stale entry whose German changed again keeps the German it was translated from;
    - in `content`, every msgctxt names one field (`topic:<key>:text`), so the context, not the
      wording, says which old translation belongs to an entry. Babel's difflib matching would miss
      a rewritten text (losing the translation) or pick another field's similar text; it is off
      there, and an entry whose context existed takes that entry's translation as stale.
    Entries new to the template have no translation (missing); in `messages` Babel may give one the
    translation of a similar old string, as stale, for the translator to start from.
    """
    old = [message for message in catalog if message.id]
    old_by_key = {_key(message): message for message in old}
    catalog.update(template, no_fuzzy_matching=domain == "content", update_header_comment=False)
    catalog.obsolete.clear()
    by_context = _unique_contexts(old) if domain == "content" else {}
    template_keys = {_key(message) for message in template if message.id}
    for message in catalog:
        if not message.id:
            continue
        unchanged = old_by_key.get(_key(message))
        if unchanged is not None:
            message.previous_id = list(unchanged.previous_id or ())
            continue
        if message.context is not None and message.context in by_context:
            predecessor = by_context[message.context]
            if _key(predecessor) not in template_keys:
                _take_as_stale(message, predecessor)
            continue
        if message.previous_id:
            _keep_first_previous(message, old_by_key)
    return catalog


def _unique_contexts(messages: list[Message]) -> dict[str, Message]:
    """Old entries by msgctxt, leaving out any context that more than one entry has."""
    seen: dict[str, Message | None] = {}
    for message in messages:
        if message.context is not None:
            seen[message.context] = None if message.context in seen else message
    return {context: message for context, message in seen.items() if message is not None}


def _take_as_stale(message: Message, predecessor: Message) -> None:
    """Give a changed entry its old translation, marked stale with the German it was made from."""
    if not first_string(predecessor.string):
        return  # nothing was translated: the entry stays missing
    message.string = predecessor.string
    message.flags |= set(predecessor.flags) | {"fuzzy"}
    if predecessor.previous_id:
        message.previous_id = list(predecessor.previous_id)
    else:
        message.previous_id = [predecessor.id] if isinstance(predecessor.id, str) else list(predecessor.id)
    if predecessor.user_comments:
        message.user_comments = list(predecessor.user_comments)


def _keep_first_previous(message: Message, old_by_key: dict[Key, Message]) -> None:
    """After Babel's fuzzy match, point the previous id at the German the translation was made from.

    Babel sets it to the matched entry's German; when that entry was stale already, its own previous
    id is the German the translation really belongs to.
    """
    matched = old_by_key.get((message.context, first_string(message.previous_id)))
    if matched is None:
        matched = next(
            (m for m in old_by_key.values() if first_string(m.id) == first_string(message.previous_id)), None
        )
    if matched is not None and matched.previous_id:
        message.previous_id = list(matched.previous_id)


def compile_all(settings: Settings) -> list[Path]:
    """`.mo` files with what Lotse itself serves: reviewed entries and drafts, not stale ones."""
    written = []
    for path in sorted(settings.locales_dir.glob("*/LC_MESSAGES/*.po")):
        catalog = read_catalog(path, None, path.stem)
        unused = [m for m in catalog if m.id and entry_state(m) not in USED_STATES]
        for message in unused:
            catalog.delete(message.id, context=message.context)
        target = path.with_suffix(".mo")
        with target.open("wb") as handle:
            write_mo(handle, catalog, use_fuzzy=True)  # drafts are fuzzy
        written.append(target)
    return written
