from django.contrib.auth import views as auth_views
from django.urls import include, path

from campaigns.urls import dashboard_urlpatterns as campaign_urlpatterns
from delivery.urls import dashboard_urlpatterns as sending_urlpatterns

from . import views

app_name = "dashboard"

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="dashboard/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("n/<slug:slug>/", views.newsletter_detail, name="newsletter"),
    path("n/<slug:slug>/campaigns/", include(campaign_urlpatterns)),
    path("n/<slug:slug>/campaigns/<int:pk>/", include(sending_urlpatterns)),
    path(
        "n/<slug:slug>/campaigns/<int:pk>/test/",
        views.campaign_test_send,
        name="campaign_test_send",
    ),
    path("outbox/", views.outbox, name="outbox"),
    path("outbox/test/", views.outbox_send_test, name="outbox_send_test"),
    path("outbox/<int:pk>/", views.outbox_message, name="outbox_message"),
    path("outbox/<int:pk>/html/", views.outbox_message_html, name="outbox_message_html"),
]
