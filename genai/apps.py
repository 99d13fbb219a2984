from django.apps import AppConfig


class GenaiConfig(AppConfig):
    name = "genai"
    verbose_name = "Generative AI safety evaluation"
    default_auto_field = "django.db.models.BigAutoField"
