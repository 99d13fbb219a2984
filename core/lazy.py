"""Modules imported on first use: keeps NumPy, SciPy and torch out of Django's start-up. No Django."""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """Stand-in for a module, imported when one of its attributes is first read.

    `manage.py help`, `manage.py check` and the web process import the apps' views and services;
    the image and model code they reach needs NumPy or SciPy only when an image or a model is
    actually handled.
    """

    def __init__(self, name: str):
        self.__dict__["_name"] = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self.__dict__["_name"]), attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self.__dict__['_name']}>"
