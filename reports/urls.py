"""Dashboard pages of reports and schedules (included at the site root by assay/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("reports/", views.reports, name="reports"),
    path("reports/<int:pk>/", views.report_detail, name="report"),
    path("reports/<int:pk>/pdf/", views.report_pdf, name="report-pdf"),
    path("schedules/", views.schedules_page, name="schedules"),
    path("schedules/<int:pk>/<str:op>/", views.schedule_action, name="schedule-action"),
]
