"""Code monitoring, search and repository pages."""

from django.urls import path

from sitemail.monitors import views

urlpatterns = [
    path("code-monitoring", views.monitor_list, name="code-monitoring"),
    path("code-monitoring/new", views.monitor_new, name="code-monitoring-new"),
    path("code-monitoring/<int:pk>", views.monitor_edit, name="code-monitor"),
    path("code-monitoring/<int:pk>/logs", views.monitor_logs, name="code-monitor-logs"),
    path("search", views.search_page, name="search"),
    path("site-admin/repositories", views.repositories, name="site-admin-repositories"),
]
