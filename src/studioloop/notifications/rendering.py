"""Turning an event and its context into words, per channel.

Built-in templates live in `templates/email/<event>.{txt,html}` (email) and
`templates/text/<event>.txt` (the short form for SMS and push, kept under 160 characters).
A translation is a copy under `<locale>/...` (the member's `preferences.locale`); a missing
one falls back to English. An operator can add translations or change the platform's
wording without touching the code: files in NOTIFICATION_TEMPLATES_DIR, laid out the same
way, are found first. A studio's own wording (`notification_templates`) wins over all of
these; it is rendered in Jinja2's sandbox because studio staff wrote it.
"""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    UndefinedError,
    meta,
    select_autoescape,
)
from jinja2.sandbox import SandboxedEnvironment

from studioloop.config import get_settings
from studioloop.notifications.events import get_event

TEMPLATES = Path(__file__).resolve().parent / "templates"
SMS_LIMIT = 160


@functools.lru_cache(maxsize=4)
def _environment(extra_dir: str | None) -> Environment:
    search = [extra_dir, str(TEMPLATES)] if extra_dir else [str(TEMPLATES)]
    return Environment(
        loader=FileSystemLoader(search),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


# Studio-written templates: no attribute access to internals. A misspelt variable is refused
# when the template is saved (`check_override`); should one slip through anyway it renders
# empty rather than failing a booking.
_sandbox = SandboxedEnvironment(autoescape=False)
_sandbox_html = SandboxedEnvironment(autoescape=True)
_strict = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


@dataclass(frozen=True)
class Override:
    """A studio's wording for one event (from `notification_templates`)."""

    subject: str | None
    body_text: str
    body_html: str | None


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def _file(kind: str, event: str, extension: str, locale: str) -> Any:
    names = [f"{kind}/{event}.{extension}"]
    if locale and locale != "en":
        names.insert(0, f"{locale}/{kind}/{event}.{extension}")
    extra = get_settings().notification_templates_dir
    return _environment(str(extra) if extra else None).select_template(names)


def render_email(
    event: str, context: dict[str, Any], *, locale: str = "en", override: Override | None = None
) -> RenderedEmail:
    if override is not None:
        subject = _sandbox.from_string(override.subject or get_event(event).subject).render(
            **context
        )
        text = _sandbox.from_string(override.body_text).render(**context)
        html = (
            _sandbox_html.from_string(override.body_html).render(**context)
            if override.body_html
            else _file("email", event, "html", locale).render(**context)
        )
        return RenderedEmail(subject.strip(), text, html)
    return RenderedEmail(
        subject=get_event(event).subject.format(**context),
        text=_file("email", event, "txt", locale).render(**context),
        html=_file("email", event, "html", locale).render(**context),
    )


def render_text(
    event: str, context: dict[str, Any], *, locale: str = "en", override: Override | None = None
) -> str:
    """The short form, for SMS and push. Whitespace is folded: an SMS bills by length."""
    if override is not None:
        rendered = _sandbox.from_string(override.body_text).render(**context)
    else:
        rendered = _file("text", event, "txt", locale).render(**context)
    return " ".join(rendered.split())


def whatsapp_parameters(event: str, context: dict[str, Any]) -> list[str]:
    """The approved template's body parameters, in order. WhatsApp refuses empty ones."""
    return [str(context.get(key, "")) or "-" for key in get_event(event).whatsapp_params]


@functools.lru_cache(maxsize=64)
def variables(event: str) -> tuple[str, ...]:
    """The names an event's built-in templates use: what a studio's wording may use."""
    environment = _environment(None)
    names: set[str] = set()
    for name in (f"email/{event}.txt", f"email/{event}.html", f"text/{event}.txt"):
        try:
            source = environment.loader.get_source(environment, name)[0]  # type: ignore[union-attr]
        except TemplateNotFound:
            continue
        names |= meta.find_undeclared_variables(environment.parse(source))
    names |= {name for _, name, _, _ in string.Formatter().parse(get_event(event).subject) if name}
    return tuple(sorted(names))


def check_override(event: str, kind: str, override: Override, context: dict[str, Any]) -> str:
    """Render a studio's wording strictly (an unknown variable is an error); returns the
    short text for `text` templates."""
    for source in (override.subject, override.body_text, override.body_html):
        if source:
            offered = set(variables(event))
            unknown = meta.find_undeclared_variables(_strict.parse(source)) - offered
            if unknown:
                raise UndefinedError(
                    f"unknown variable(s): {', '.join(sorted(unknown))}; "
                    f"this message offers: {', '.join(variables(event))}"
                )
            _strict.from_string(source).render(**context)
    return render_text(event, context, override=override) if kind == "text" else ""
