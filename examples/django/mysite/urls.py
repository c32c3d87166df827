from django.urls import path

from hello import views

urlpatterns = [
    path("", views.index),
    path("echo", views.echo),
    path("json", views.json_echo),
]
