from django.urls import path

from . import views

app_name = "subscribers"

# Mounted at the site root: /n/<newsletter>/… for the public pages, /s/… for signed links.
urlpatterns = [
    path("n/<slug:slug>/", views.newsletter_page, name="newsletter"),
    path("n/<slug:slug>/subscribe/", views.subscribe, name="subscribe"),
    path("s/confirm/<str:token>/", views.confirm, name="confirm"),
    path("s/prefs/<str:token>/", views.preferences, name="preferences"),
    path("s/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("s/data/<str:token>/", views.data, name="data"),
]
