from django.urls import path

from . import views

app_name = "tracking"
urlpatterns = [
    path("o/<str:token>.gif", views.open_pixel, name="open"),
    path("c/<str:token>/", views.click, name="click"),
]

# Under /dashboard/n/<slug:slug>/campaigns/<int:pk>/, in the "dashboard" namespace.
dashboard_urlpatterns = [
    path("report/", views.campaign_report, name="campaign_report"),
    path("report.csv", views.campaign_report_csv, name="campaign_report_csv"),
]
