from django.apps import AppConfig


class OpenstackApiConfig(AppConfig):
    name = "openstack_api"
    verbose_name = "OpenStack-compatible API"
