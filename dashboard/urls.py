from django.contrib.auth import views as auth_views
from django.urls import include, path

from automations.urls import dashboard_urlpatterns as automation_urlpatterns
from campaigns.urls import dashboard_urlpatterns as campaign_urlpatterns
from delivery.urls import dashboard_urlpatterns as sending_urlpatterns
from delivery.urls import settings_urlpatterns as backend_urlpatterns
from experiments.urls import dashboard_urlpatterns as experiment_urlpatterns
from feeds.urls import dashboard_urlpatterns as feed_urlpatterns
from participation.urls import dashboard_urlpatterns as participation_urlpatterns
from participation.urls import settings_urlpatterns as participation_settings_urlpatterns
from subscribers.dashboard_urls import dashboard_urlpatterns as people_urlpatterns
from tracking.urls import dashboard_urlpatterns as report_urlpatterns

from . import account, campaigns, segments, settings_views, views

app_name = "dashboard"

# The account's own security: two-factor login (issue 7).
account_urlpatterns = [
    path("", account.security, name="account_security"),
    path("app/", account.totp_enrol, name="account_totp_enrol"),
    path("verify/", account.account_verify, name="account_verify"),
    path("backup-codes/", account.backup_codes_replace, name="account_backup_codes"),
    path("off/", account.two_factor_off, name="account_two_factor_off"),
]

# A newsletter's settings (issue 7): owner only, like every page under settings/.
settings_urlpatterns = [
    path("", settings_views.settings_general, name="settings"),
    path("members/", settings_views.settings_members, name="settings_members"),
    path(
        "members/<int:pk>/role/",
        settings_views.settings_member_role,
        name="settings_member_role",
    ),
    path(
        "members/<int:pk>/remove/",
        settings_views.settings_member_remove,
        name="settings_member_remove",
    ),
    path(
        "members/invitations/<int:pk>/resend/",
        settings_views.settings_invitation_resend,
        name="settings_invitation_resend",
    ),
    path(
        "members/invitations/<int:pk>/revoke/",
        settings_views.settings_invitation_revoke,
        name="settings_invitation_revoke",
    ),
    path("tokens/", settings_views.settings_tokens, name="settings_tokens"),
    path(
        "tokens/<int:pk>/revoke/",
        settings_views.settings_token_revoke,
        name="settings_token_revoke",
    ),
]

# Segments and custom fields (issue 15).
audience_urlpatterns = [
    path("segments/", segments.segment_list, name="segment_list"),
    path("segments/new/", segments.segment_edit, name="segment_create"),
    path("segments/<int:pk>/", segments.segment_edit, name="segment_edit"),
    path("segments/<int:pk>/delete/", segments.segment_delete, name="segment_delete"),
    path("fields/", segments.field_list, name="field_list"),
    path("fields/<slug:key>/", segments.field_edit, name="field_edit"),
]

urlpatterns = [
    path("login/", account.LoginView.as_view(), name="login"),
    path("login/verify/", account.login_verify, name="login_verify"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # A forgotten password, and an invitation's link (issue 12): no login needed.
    path("password/reset/", account.password_reset, name="password_reset"),
    path("password/reset/sent/", account.password_reset_done, name="password_reset_done"),
    path(
        "password/set/<uidb64>/<token>/",
        account.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("password/set/done/", account.password_reset_complete, name="password_reset_complete"),
    path("invitations/<str:token>/", account.invitation, name="invitation"),
    path("account/security/", include(account_urlpatterns)),
    path("", views.home, name="home"),
    path("newsletters/new/", views.newsletter_create, name="newsletter_create"),
    path("n/<slug:slug>/", views.newsletter_detail, name="newsletter"),
    path("n/<slug:slug>/settings/", include(settings_urlpatterns)),
    path("n/<slug:slug>/campaigns/new/", campaigns.campaign_create, name="campaign_create"),
    path("n/<slug:slug>/campaigns/<int:pk>/edit/", campaigns.campaign_edit, name="campaign_edit"),
    path(
        "n/<slug:slug>/campaigns/<int:pk>/schedule/",
        campaigns.campaign_schedule,
        name="campaign_schedule",
    ),
    path(
        "n/<slug:slug>/campaigns/<int:pk>/delete/",
        campaigns.campaign_delete,
        name="campaign_delete",
    ),
    path("n/<slug:slug>/campaigns/", include(campaign_urlpatterns)),
    path("n/<slug:slug>/", include(people_urlpatterns)),
    path("n/<slug:slug>/", include(audience_urlpatterns)),
    path("n/<slug:slug>/campaigns/<int:pk>/", include(sending_urlpatterns)),
    path("n/<slug:slug>/campaigns/<int:pk>/", include(report_urlpatterns)),
    path("n/<slug:slug>/campaigns/<int:pk>/experiment/", include(experiment_urlpatterns)),
    path("n/<slug:slug>/settings/sending/", include(backend_urlpatterns)),
    path(
        "n/<slug:slug>/campaigns/<int:pk>/test/",
        views.campaign_test_send,
        name="campaign_test_send",
    ),
    path("n/<slug:slug>/settings/webhooks/", include("webhooks.urls")),
    path("n/<slug:slug>/participation/", include(participation_urlpatterns)),
    path("n/<slug:slug>/automations/", include(automation_urlpatterns)),
    path("n/<slug:slug>/feeds/", include(feed_urlpatterns)),
    path(
        "n/<slug:slug>/settings/participation/",
        include(participation_settings_urlpatterns),
    ),
    path("outbox/", views.outbox, name="outbox"),
    path("outbox/test/", views.outbox_send_test, name="outbox_send_test"),
    path("outbox/<int:pk>/", views.outbox_message, name="outbox_message"),
    path("outbox/<int:pk>/html/", views.outbox_message_html, name="outbox_message_html"),
]
