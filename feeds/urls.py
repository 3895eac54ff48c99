"""The dashboard's feed pages (``dashboard_urlpatterns``, mounted by ``dashboard.urls``
under /dashboard/n/<slug:slug>/feeds/, in the "dashboard" namespace)."""

from django.urls import path

from . import dashboard

dashboard_urlpatterns = [
    path("", dashboard.feed_list, name="feed_list"),
    path("new/", dashboard.feed_create, name="feed_create"),
    path("<int:pk>/", dashboard.feed_detail, name="feed_detail"),
    path("<int:pk>/edit/", dashboard.feed_edit, name="feed_edit"),
    path("<int:pk>/check/", dashboard.feed_check, name="feed_check"),
    path("<int:pk>/run/", dashboard.feed_run, name="feed_run"),
    path("<int:pk>/delete/", dashboard.feed_delete, name="feed_delete"),
    path("preview/<str:key>/", dashboard.feed_preview_html, name="feed_preview_html"),
]
