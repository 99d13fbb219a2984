from django.apps import AppConfig


class WatermarkConfig(AppConfig):
    name = "watermark"
