"""The demo: `python manage.py demo` loads every app's demo data (the top of the import graph, like `assay`)."""
