"""The development e-mail backend: prints each message to the console without its attachments' bytes."""

from django.core.mail.backends.console import EmailBackend as DjangoConsoleBackend


class ConsoleEmailBackend(DjangoConsoleBackend):
    """Like Django's console backend, but an attachment (a report's PDF) shows as one line with its name, type
    and size instead of pages of base64."""

    def write_message(self, message):
        lines = [f"From: {message.from_email}", f"To: {', '.join(message.to)}"]
        if message.cc:
            lines.append(f"Cc: {', '.join(message.cc)}")
        lines += [f"Subject: {message.subject}", "", message.body.rstrip()]
        for attachment in message.attachments:
            name, content, mimetype = _attachment_parts(attachment)
            lines.append(f"[attachment {name} ({mimetype}, {len(content or b'')} bytes) not printed]")
        self.stream.write("\n".join(lines) + "\n" + "-" * 79 + "\n")


def _attachment_parts(attachment) -> tuple[str, bytes, str]:
    if isinstance(attachment, tuple):  # (filename, content, mimetype), a namedtuple since Django 5.2
        return attachment[0] or "unnamed", attachment[1], attachment[2] or "application/octet-stream"
    return attachment.get_filename() or "unnamed", attachment.get_payload(decode=True), attachment.get_content_type()
