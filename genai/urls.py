"""Dashboard pages of the genai app (included at the site root by assay/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("genai/", views.index, name="genai"),
    path("genai/targets/<int:pk>/", views.target_detail, name="genai-target"),
    path("genai/banks/<int:pk>/", views.bank_detail, name="genai-bank"),
    path("genai/evaluations/<int:pk>/", views.evaluation_detail, name="genai-evaluation"),
    path("genai/evaluations/<int:pk>/review/", views.review_queue, name="genai-review"),
    path("genai/evaluations/<int:pk>/items/<int:index>/review/", views.review_item, name="genai-review-item"),
]
