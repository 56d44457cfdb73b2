"""make run's WhatsApp and email: pointed at the sandbox's fake and the local SMTP sink
unless the user configured real ones."""

from devstack.channel_fakes import email_sink, whatsapp_fake_environment


def test_whatsapp_goes_to_the_sandbox_fake_which_posts_back_to_the_notifier() -> None:
    fake = whatsapp_fake_environment({}, "http://127.0.0.1:8081", "http://127.0.0.1:9300")
    assert fake is not None
    verify_token = fake.notifier.pop("WHATSAPP_VERIFY_TOKEN")
    assert len(verify_token) >= 24
    assert fake.notifier == {
        "WHATSAPP_API_URL": "http://127.0.0.1:8081/whatsapp/v21.0",
        "WHATSAPP_TOKEN": "sandbox-whatsapp-token",
        "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
        "WHATSAPP_APP_SECRET": "sandbox-whatsapp-app-secret",
    }
    assert fake.sandbox == {
        "SANDBOX_WHATSAPP_WEBHOOK_URL": "http://127.0.0.1:9300/whatsapp/webhook"
    }


def test_a_whatsapp_token_of_the_users_own_means_no_fake() -> None:
    environ = {"WHATSAPP_TOKEN": "EAAG-real-token"}
    assert whatsapp_fake_environment(environ, "http://127.0.0.1:8081", "http://x") is None


def test_email_goes_to_the_local_sink_from_the_demo_shop_or_the_users_sender() -> None:
    sink = email_sink({}, 8025)
    assert sink is not None
    assert sink.environment() == {"SMTP_SINK_PORT": "8025"}
    assert sink.notifier_environment({}) == {
        "SMTP_URL": "smtp://127.0.0.1:8025",
        "EMAIL_FROM": "Ganesh Traders <orders@ganeshtraders.example>",
    }
    mine = {"EMAIL_FROM": "Acme <orders@acme.example>"}
    assert sink.notifier_environment(mine)["EMAIL_FROM"] == "Acme <orders@acme.example>"


def test_an_smtp_server_of_the_users_own_means_no_sink() -> None:
    assert email_sink({"SMTP_URL": "smtps://mail.example.in"}, 8025) is None
