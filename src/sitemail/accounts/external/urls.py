"""External sign-in routes."""

from django.urls import path

from sitemail.accounts.external import views

urlpatterns = [
    path(".auth/saml/login", views.saml_login, name="external-auth-saml-login"),
    path(".auth/saml/acs", views.saml_acs, name="external-auth-saml-acs"),
    path(".auth/saml/metadata", views.saml_metadata, name="external-auth-saml-metadata"),
    path(".auth/<str:kind>/login", views.auth_login, name="external-auth-login"),
    path(".auth/<str:kind>/callback", views.auth_callback, name="external-auth-callback"),
]
