"""The dashboard's list, subscriber and import pages, in the "dashboard" namespace.

``dashboard.urls`` mounts ``dashboard_urlpatterns`` under ``/dashboard/n/<slug:slug>/``.
"""

from django.urls import path

from . import dashboard as views

dashboard_urlpatterns = [
    path("lists/", views.list_index, name="list_index"),
    path("lists/new/", views.list_create, name="list_create"),
    path("lists/imports/<int:pk>/", views.import_detail, name="import_detail"),
    path("lists/<slug:list_slug>/edit/", views.list_edit, name="list_edit"),
    path("lists/<slug:list_slug>/archive/", views.list_archive, name="list_archive"),
    path("lists/<slug:list_slug>/delete/", views.list_delete, name="list_delete"),
    path("lists/<slug:list_slug>/export.csv", views.list_export, name="list_export"),
    path("lists/<slug:list_slug>/import/", views.import_upload, name="import_upload"),
    path("lists/<slug:list_slug>/import/<str:token>/", views.import_map, name="import_map"),
    path("subscribers/", views.subscriber_list, name="subscriber_list"),
    path("subscribers/new/", views.subscriber_add, name="subscriber_add"),
    path("subscribers/bulk/", views.subscriber_bulk, name="subscriber_bulk"),
    path("subscribers/bulk/<int:pk>/", views.bulk_job_detail, name="bulk_job_detail"),
    path("subscribers/<int:pk>/", views.subscriber_detail, name="subscriber_detail"),
    path(
        "subscribers/<int:pk>/unsubscribe/",
        views.subscriber_unsubscribe,
        name="subscriber_unsubscribe",
    ),
    path("subscribers/<int:pk>/erase/", views.subscriber_erase, name="subscriber_erase"),
    path("subscribers/<int:pk>/fields/", views.subscriber_fields, name="subscriber_fields"),
]
