"""Dashboard template filters: readable labels and a metric's details as tables instead of a Python printout."""

from numbers import Number

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

LIST_SHOWN = 20  # items of a long list shown before "… and N more"


@register.filter
def label(key) -> str:
    """Return a snake_case key as words: "data_governance" -> "Data governance"."""
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


@register.filter
def details_table(value) -> SafeString:
    """Return `value` (the JSON of a metric's details) as nested HTML tables: a dict is a two-column table, a list
    of dicts with the same keys one table with a column per key, a list of scalars one line."""
    return mark_safe(_render(value))


def _render(value) -> str:
    if isinstance(value, dict):
        if not value:
            return "—"
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>",
                                ((label(k), mark_safe(_render(v))) for k, v in value.items()))
        return format_html('<table class="details-table"><tbody>{}</tbody></table>', rows)
    if isinstance(value, list | tuple):
        return _render_list(list(value))
    return _scalar(value)


def _render_list(items: list) -> str:
    if not items:
        return "—"
    if all(isinstance(i, dict) for i in items) and len({tuple(i) for i in items}) == 1:
        columns = list(items[0])
        head = format_html_join("", "<th>{}</th>", ((label(c),) for c in columns))
        body = format_html_join("", "<tr>{}</tr>", (
            (format_html_join("", "<td>{}</td>", ((mark_safe(_render(i[c])),) for c in columns)),) for i in items))
        return format_html('<table class="details-table"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
                           head, body)
    shown = ", ".join(_render(i) for i in items[:LIST_SHOWN])
    more = f" … and {len(items) - LIST_SHOWN} more" if len(items) > LIST_SHOWN else ""
    return shown + more


def _scalar(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return format_html('<span class="mono">{}</span>', f"{value:.4g}")
    if isinstance(value, Number):
        return format_html('<span class="mono">{}</span>', value)
    return format_html("{}", value)
