from django.core.checks import run_checks


def deploy_check_ids() -> set[str]:
    return {message.id for message in run_checks(include_deployment_checks=True)}


def test_deploy_check_warns_that_the_outbox_keeps_mail_on_the_server(settings):
    settings.EMAIL_BACKEND = "delivery.backends.outbox.EmailBackend"
    assert "crier.W001" in deploy_check_ids()


def test_deploy_check_is_quiet_with_a_real_backend(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert "crier.W001" not in deploy_check_ids()


def test_deploy_check_warns_about_an_esp_without_webhook_secret(settings):
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": "token"}
    assert "crier.W002" in deploy_check_ids()
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": "token", "WEBHOOK_SECRET": "user:pass"}
    assert "crier.W002" not in deploy_check_ids()


def test_deploy_check_warns_about_a_bounce_mailbox_without_verp(settings):
    settings.BOUNCE_IMAP_HOST = "imap.example.org"
    settings.BOUNCE_DOMAIN = ""
    assert "crier.W003" in deploy_check_ids()
    settings.BOUNCE_DOMAIN = "bounces.example.org"
    assert "crier.W003" not in deploy_check_ids()


def test_deploy_check_warns_when_secrets_hang_on_the_secret_key(settings):
    settings.ENCRYPTION_KEYS = []
    assert "crier.W004" in deploy_check_ids()
    settings.ENCRYPTION_KEYS = ["a-long-random-key"]
    assert "crier.W004" not in deploy_check_ids()


def test_deploy_check_warns_that_client_ip_header_is_no_longer_read(monkeypatch):
    monkeypatch.setenv("CLIENT_IP_HEADER", "HTTP_X_FORWARDED_FOR")
    assert "crier.W021" in deploy_check_ids()
    monkeypatch.delenv("CLIENT_IP_HEADER")
    assert "crier.W021" not in deploy_check_ids()
