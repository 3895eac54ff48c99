from django.urls import path

from . import views

# Under /dashboard/n/<slug:slug>/campaigns/<int:pk>/, in the "dashboard" namespace.
dashboard_urlpatterns = [
    path("send/", views.campaign_send, name="campaign_send"),
    path("recipients/", views.campaign_recipients, name="campaign_recipients"),
    path("sending/", views.campaign_sending, name="campaign_sending"),
    path("sending/action/", views.campaign_action, name="campaign_action"),
    path("sending/uncertain/", views.campaign_uncertain, name="campaign_uncertain"),
]

# Under /dashboard/n/<slug:slug>/settings/sending/, in the "dashboard" namespace.
settings_urlpatterns = [
    path("", views.sending_backend, name="sending_backend"),
    path("test/", views.sending_backend_test, name="sending_backend_test"),
    path("check/", views.sending_backend_check, name="sending_backend_check"),
    path("webhook/", views.sending_backend_webhook_renew, name="sending_backend_webhook_renew"),
]

# Public, under /test-mail/: the List-Unsubscribe target of test messages.
public_urlpatterns = [
    path("stop/<str:token>/", views.test_mail_stop, name="test_mail_stop"),
]
