"""Account routes: sign up/in/out, password reset, email links, user settings, admin pages."""

from django.urls import path

from sitemail.accounts import views

urlpatterns = [
    path("-/sign-up", views.api_sign_up, name="api-sign-up"),
    path("-/sign-in", views.api_sign_in, name="api-sign-in"),
    path("-/sign-out", views.api_sign_out, name="api-sign-out"),
    path("-/reset-password-init", views.api_reset_password_init, name="api-reset-init"),
    path("-/reset-password-code", views.api_reset_password_code, name="api-reset-code"),
    path("-/verify-email", views.verify_email, name="verify-email"),
    path("-/unlock-account", views.unlock_account, name="unlock-account"),
    path("sign-up", views.sign_up, name="sign-up"),
    path("sign-in", views.sign_in, name="sign-in"),
    path("sign-out", views.sign_out, name="sign-out"),
    path("password-reset", views.password_reset, name="password-reset"),
    path("user/settings/emails", views.settings_emails, name="settings-emails"),
    path("user/settings/tokens", views.settings_tokens, name="settings-tokens"),
    path("site-admin/users/new", views.admin_new_user, name="site-admin-new-user"),
    path(
        "site-admin/users/<str:username>/emails",
        views.admin_user_emails,
        name="site-admin-user-emails",
    ),
]
