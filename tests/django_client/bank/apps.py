from django.apps import AppConfig


class BankConfig(AppConfig):
    name = "tests.django_client.bank"
    label = "bank"
    default_auto_field = "django.db.models.BigAutoField"
