from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class ComplianceConfig(AppConfig):
    name = "compliance"

    def ready(self):
        """Load and validate the framework data; a broken file stops the process, naming file and line."""
        from .registry import FrameworkError
        from .services import load_registry

        try:
            load_registry()
        except FrameworkError as exc:
            raise ImproperlyConfigured(str(exc)) from None
