"""Public URLs (namespace ``participation``, mounted at ``n/<slug:newsletter>/``), the
goals' webhook (``webhook_urlpatterns``, under ``webhooks/``) and the dashboard's
(``dashboard_urlpatterns``, mounted by ``dashboard.urls``)."""

from django.urls import path

from . import dashboard, views

app_name = "participation"

urlpatterns = [
    path("stats/", views.transparency, name="stats"),
    path("consultations/<slug:consultation>/", views.consultation, name="consultation"),
    path(
        "consultations/<slug:consultation>/my-link/",
        views.consultation_link,
        name="consultation_link",
    ),
    path("consultations/<slug:consultation>/answer/<str:token>/", views.answer, name="answer"),
    path("calls/<slug:call>/", views.call, name="call"),
    path("calls/<slug:call>/edit/<str:token>/", views.submission_edit, name="submission_edit"),
    path("goals/<slug:goal>/", views.goal, name="goal"),
    path("goals/<slug:goal>/support/", views.goal_cta, name="goal_cta"),
    path("forward/<slug:campaign>/", views.forward, name="forward"),
    path("referrals/<str:token>/", views.referral_settings, name="referral_settings"),
]

webhook_urlpatterns = [
    path("goals/<str:key>/", views.goal_webhook, name="goal_webhook"),
]

# Under /dashboard/n/<slug:slug>/participation/, in the "dashboard" namespace.
dashboard_urlpatterns = [
    path("", dashboard.overview, name="participation"),
    path("consultations/new/", dashboard.consultation_create, name="consultation_create"),
    path("consultations/<int:pk>/", dashboard.consultation_detail, name="consultation_detail"),
    path("consultations/<int:pk>/edit/", dashboard.consultation_edit, name="consultation_edit"),
    path(
        "consultations/<int:pk>/results.csv",
        dashboard.consultation_csv,
        name="consultation_csv",
    ),
    path(
        "consultations/<int:pk>/questions/",
        dashboard.question_add,
        name="consultation_question_add",
    ),
    path(
        "consultations/<int:pk>/questions/<int:question>/remove/",
        dashboard.question_remove,
        name="consultation_question_remove",
    ),
    path("consultations/<int:pk>/close/", dashboard.consultation_close, name="consultation_close"),
    path("calls/new/", dashboard.call_create, name="call_create"),
    path("calls/<int:pk>/", dashboard.call_detail, name="call_detail"),
    path("calls/<int:pk>/edit/", dashboard.call_edit, name="call_edit"),
    path("calls/<int:pk>/close/", dashboard.call_close, name="call_close"),
    path("calls/<int:pk>/insert/", dashboard.call_insert, name="call_insert"),
    path(
        "calls/<int:pk>/submissions/<int:submission>/moderate/",
        dashboard.submission_moderate,
        name="submission_moderate",
    ),
    path("goals/new/", dashboard.goal_create, name="goal_create"),
    path("goals/<int:pk>/", dashboard.goal_detail, name="goal_detail"),
    path("goals/<int:pk>/edit/", dashboard.goal_edit, name="goal_edit"),
    path("goals/<int:pk>/progress/", dashboard.goal_progress, name="goal_progress"),
    path("goals/<int:pk>/webhook/", dashboard.goal_webhook_rotate, name="goal_webhook_rotate"),
    path("referrals/", dashboard.referrals, name="referrals"),
]

# Under /dashboard/n/<slug:slug>/settings/participation/ (owners, like all settings).
settings_urlpatterns = [
    path("", dashboard.participation_settings, name="settings_participation"),
]
