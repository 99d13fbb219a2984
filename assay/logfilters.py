"""Logging filters named in settings.LOGGING."""

import logging


class DropRepeatedSvgAnchors(logging.Filter):
    """Drop WeasyPrint's "Anchor defined twice" warnings.

    A report embeds several matplotlib SVG charts, and each chart numbers its elements and glyphs
    from the start ("text_1", "DejaVuSans-4a"), so every chart after the first repeats ids that
    WeasyPrint reports one line each: hundreds of lines a report, none of them a problem (the PDF
    links nothing to those ids). Every other WeasyPrint warning still shows.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Anchor defined twice")
