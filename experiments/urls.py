"""Under /dashboard/n/<slug>/campaigns/<pk>/experiment/, in the "dashboard" namespace."""

from django.urls import path

from . import views

dashboard_urlpatterns = [
    path("", views.experiment_edit, name="experiment"),
    path("delete/", views.experiment_delete, name="experiment_delete"),
    path("decide/", views.experiment_decide, name="experiment_decide"),
]
