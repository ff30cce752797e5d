"""Organization routes."""

from django.urls import path

from sitemail.orgs import views

urlpatterns = [
    path("organizations", views.org_list, name="org-list"),
    path("organizations/new", views.new_org, name="org-new"),
    path("organizations/invitation/<str:token>", views.invitation_page, name="org-invitation"),
    path("organizations/<str:name>", views.org_page, name="org"),
    path("organizations/<str:name>/members", views.members_page, name="org-members"),
]
