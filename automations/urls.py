"""The dashboard's automation pages, mounted by ``dashboard.urls`` under
/dashboard/n/<slug:slug>/automations/ in the "dashboard" namespace."""

from django.urls import path

from . import dashboard

dashboard_urlpatterns = [
    path("", dashboard.automation_list, name="automation_list"),
    path("new/", dashboard.automation_create, name="automation_create"),
    path("<int:pk>/", dashboard.automation_detail, name="automation_detail"),
    path("<int:pk>/edit/", dashboard.automation_edit, name="automation_edit"),
    path("<int:pk>/delete/", dashboard.automation_delete, name="automation_delete"),
    *[
        path(
            f"<int:pk>/{action}/",
            dashboard.automation_status,
            {"action": action},
            name=f"automation_{action}",
        )
        for action in dashboard.STATUS_CHANGES
    ],
    path("<int:pk>/steps/new/<str:kind>/", dashboard.step_create, name="automation_step_create"),
    path("<int:pk>/steps/<int:step_pk>/", dashboard.step_edit, name="automation_step_edit"),
    path(
        "<int:pk>/steps/<int:step_pk>/remove/",
        dashboard.step_remove,
        name="automation_step_remove",
    ),
    path("<int:pk>/steps/<int:step_pk>/move/", dashboard.step_move, name="automation_step_move"),
]
