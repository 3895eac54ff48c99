from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from delivery.urls import public_urlpatterns as test_mail_urlpatterns
from participation.urls import webhook_urlpatterns as participation_webhooks

from . import views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="dashboard:home"), name="root"),
    path("dashboard/", include("dashboard.urls")),
    path("n/<slug:newsletter>/", include("campaigns.urls")),
    path("n/<slug:newsletter>/", include("participation.urls")),
    # One way in: the dashboard's login, with its rate limit and second factor.
    path(
        "admin/login/",
        RedirectView.as_view(pattern_name="dashboard:login", query_string=True),
        name="admin_login",
    ),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("webhooks/anymail/", include("delivery.webhooks")),
    path("test-mail/", include(test_mail_urlpatterns)),
    path(
        "webhooks/participation/",
        include((participation_webhooks, "participation_webhooks")),
    ),
    path("i18n/", include("django.conf.urls.i18n")),
    path("t/", include("tracking.urls")),
    re_path(r"^media/(?P<path>.+)$", views.media, name="media"),
    path("", include("subscribers.urls")),
]

handler400 = "newsletter.views.bad_request"
