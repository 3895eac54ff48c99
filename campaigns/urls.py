"""Public URLs (``urlpatterns``, namespace ``campaigns``, mounted at ``n/<slug:newsletter>/``)
and the dashboard's (``dashboard_urlpatterns``, mounted by ``dashboard.urls``)."""

from django.urls import path, re_path

from . import views

app_name = "campaigns"

urlpatterns = [
    path("archive/", views.archive_index, name="archive_index"),
    path("archive/<slug:campaign>/", views.archive_campaign, name="archive"),
    re_path(
        r"^archive/(?P<campaign>[-a-zA-Z0-9_]+)/(?P<language>[a-z]{2,3}(?:-[a-z0-9]{2,8})*)/$",
        views.archive_edition,
        name="archive_edition",
    ),
    path(
        "archive/<slug:campaign>/r/<str:token>/",
        views.reader_web_version,
        name="reader_web_version",
    ),
    path("feed.xml", views.archive_feed, name="feed"),
]

# Under /dashboard/n/<slug:slug>/campaigns/, in the "dashboard" namespace (the editor,
# scheduling and deleting are dashboard.campaigns': they call the sending engine).
dashboard_urlpatterns = [
    path("", views.campaign_list, name="campaign_list"),
    path("live-preview/", views.campaign_live_preview, name="campaign_live_preview"),
    path(
        "live-preview/<str:key>/",
        views.campaign_live_preview_html,
        name="campaign_live_preview_html",
    ),
    path("<int:pk>/", views.campaign_preview, name="campaign_preview"),
    path("<int:pk>/duplicate/", views.campaign_duplicate, name="campaign_duplicate"),
    path("<int:pk>/editions/new/", views.edition_create, name="edition_create"),
    path("<int:pk>/editions/<str:language>/", views.edition_edit, name="edition_edit"),
    path("<int:pk>/html/", views.campaign_preview_html, name="campaign_preview_html"),
    path("layouts/", views.layout_list, name="layout_list"),
    path("layouts/new/", views.layout_create, name="layout_create"),
    path("layouts/defaults/", views.layout_install_defaults, name="layout_install_defaults"),
    path("layouts/<int:pk>/", views.layout_edit, name="layout_edit"),
    path("layouts/<int:pk>/html/", views.layout_preview_html, name="layout_preview_html"),
    path("images/", views.image_list, name="image_list"),
]
