from django.urls import path

from . import views

# Under /dashboard/n/<slug:slug>/settings/webhooks/, in the "dashboard" namespace.
urlpatterns = [
    path("", views.endpoint_list, name="webhooks"),
    path("<int:pk>/disable/", views.endpoint_disable, name="webhook_disable"),
    path("<int:pk>/test/", views.endpoint_test, name="webhook_test"),
]
