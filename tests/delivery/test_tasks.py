import json

from delivery.tasks import prune_outbox, send_test_message


def test_delivery_tasks_travel_on_the_send_queue_as_json_with_ids_only(redis_client):
    send_test_message.delay("ops@example.org", "ada")
    assert redis_client.llen("send") == 1
    assert redis_client.llen("default") == 0
    message = json.loads(redis_client.lindex("send", 0))
    assert message["content-type"] == "application/json"
    assert message["headers"]["task"] == "delivery.tasks.send_test_message"


def test_beat_schedules_the_outbox_prune(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE["prune-outbox"]
    assert schedule["task"] == prune_outbox.name
