from django.apps import AppConfig
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Assay core"

    def ready(self):
        from django.conf import settings

        from accounts.signals import membership_saved, organization_created

        from . import receivers, sandbox

        organization_created.connect(receivers.log_organization_created, dispatch_uid="core.log_organization_created")
        membership_saved.connect(receivers.log_membership_saved, dispatch_uid="core.log_membership_saved")

        if settings.ASSAY_SANDBOX == "required" and not sandbox.bubblewrap_works():
            raise ImproperlyConfigured(
                "ASSAY_SANDBOX=required, but bubblewrap (bwrap) cannot create its namespaces here: install the "
                "Debian package bubblewrap and allow unprivileged user namespaces, or unset ASSAY_SANDBOX")
        checks.register(check_sandbox, checks.Tags.security)


def check_sandbox(app_configs=None, **kwargs):
    """Warn when uploaded models would run without bubblewrap (rlimits and a scrubbed environment only)."""
    from django.conf import settings

    from . import sandbox

    if settings.ASSAY_SANDBOX == "fallback" or not sandbox.bubblewrap_works():
        return [checks.Warning(
            "Uploaded models run without bubblewrap: the sandboxed child has a scrubbed environment, an empty "
            "working directory and rlimits, but shares the network and file system of the service.",
            hint="Install bubblewrap (Debian package bubblewrap) and set ASSAY_SANDBOX=required in production.",
            id="core.W001")]
    return []
