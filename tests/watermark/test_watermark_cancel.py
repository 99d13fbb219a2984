"""Cancelling a watermark batch: at once while queued, between two images while running."""

import io

import pytest

from core.models import AuditLogEntry
from watermark import jobs, robustness
from watermark.models import ProvenanceRecord, WatermarkBatch
from watermark.services import StampOptions, WatermarkError

BATCHES = "/api/v1/watermark/batches"


def _file(data: bytes, name: str) -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = name
    return f


@pytest.fixture
def pictures(images):
    return [(f"img{i}.png", images.encode(robustness.synthetic_image(i, (256, 200)))) for i in range(3)]


@pytest.fixture
def queued_batch_id(as_alice, pictures):
    """A batch started through the API whose task has not run (its transaction never commits here)."""
    response = as_alice.post(BATCHES, {"files": [_file(data, name) for name, data in pictures]}, format="multipart")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    return response.json()["id"]


class TestCancelEndpoint:
    def test_a_queued_batch_is_cancelled_at_once_and_a_second_cancel_is_a_conflict(self, as_alice, alice_org,
                                                                                    queued_batch_id, error_of):
        response = as_alice.post(f"{BATCHES}/{queued_batch_id}/cancel")

        assert response.status_code == 200
        assert response.json()["status"] == "cancelled" and response.json()["cancel_requested"] is True
        again = as_alice.post(f"{BATCHES}/{queued_batch_id}/cancel")
        assert again.status_code == 409 and error_of(again)["message"] == "The batch has already cancelled"
        assert AuditLogEntry.objects.filter(organization=alice_org, action="watermark.batch.cancel",
                                            object_id=str(queued_batch_id)).count() == 1

    def test_a_late_delivery_of_its_task_does_nothing(self, as_alice, queued_batch_id):
        as_alice.post(f"{BATCHES}/{queued_batch_id}/cancel")

        assert jobs.execute_batch(queued_batch_id) is False

        batch = WatermarkBatch.objects.get(pk=queued_batch_id)
        assert batch.status == "cancelled" and batch.result_artifact_id is None
        assert not ProvenanceRecord.objects.filter(batch=batch).exists()

    def test_a_viewer_may_not_cancel_and_an_outsider_does_not_see_it(self, as_bob, as_charlie, queued_batch_id):
        assert as_bob.post(f"{BATCHES}/{queued_batch_id}/cancel").status_code == 403
        assert as_charlie.post(f"{BATCHES}/{queued_batch_id}/cancel").status_code == 404
        assert WatermarkBatch.objects.get(pk=queued_batch_id).status == "queued"

    def test_anonymous_callers_are_refused(self, client_for, queued_batch_id):
        assert client_for("anonymous").post(f"{BATCHES}/{queued_batch_id}/cancel").status_code == 401


class TestCancelService:
    def test_a_running_batch_stops_before_its_next_image(self, alice, alice_org, pictures, monkeypatch):
        # given: a batch of three images whose creator cancels it while the first one is being stamped
        batch = jobs.start_batch(user=alice, organization=alice_org, files=pictures, options=StampOptions(),
                                 enqueue=False)
        stamp = jobs.stamp

        def stamp_then_cancel(*args, **kwargs):
            stamped = stamp(*args, **kwargs)
            jobs.cancel_batch(WatermarkBatch.objects.get(pk=batch.pk), user=alice)
            return stamped

        monkeypatch.setattr(jobs, "stamp", stamp_then_cancel)

        # when: the job runs
        assert jobs.execute_batch(batch.pk)

        # then: it stopped after that image, made no zip and logged no success
        batch.refresh_from_db()
        assert (batch.status, batch.stage, batch.done) == ("cancelled", "cancelled", 1)
        assert batch.result_artifact_id is None and batch.error == ""
        assert ProvenanceRecord.objects.filter(batch=batch).count() == 1
        actions = list(AuditLogEntry.objects.filter(object_type="WatermarkBatch", object_id=str(batch.pk))
                       .values_list("action", flat=True))
        assert actions == ["watermark.batch.start", "watermark.batch.cancel"]

    def test_a_finished_batch_cannot_be_cancelled(self, alice, alice_org, pictures):
        batch = jobs.start_batch(user=alice, organization=alice_org, files=pictures[:1], options=StampOptions(),
                                 enqueue=False)
        jobs.execute_batch(batch.pk)
        batch.refresh_from_db()
        assert batch.status == "succeeded"

        with pytest.raises(WatermarkError, match="The batch has already succeeded"):
            jobs.cancel_batch(batch, user=alice)
        batch.refresh_from_db()
        assert batch.status == "succeeded" and not batch.cancel_requested
