"""The documents bucket's expiry rule on an S3 API (moto in-process): the service is the rule's only writer, it
upgrades a bucket that an earlier release's ``minio-init`` gave a 397-day rule, and it keeps an operator's rules."""
from __future__ import annotations

import moto
import pytest
from structlog.testing import capture_logs

from documents.adapters.object_store import LIFECYCLE_RULE_ID, S3ObjectStore
from documents.domain.model import LIFECYCLE_DAYS

DOCS, INBOX = "portal-documents", "portal-inbox"
#: What ``mc ilm rule add --expire-days 397`` stored: an xid as ID, an empty prefix filter, expiry only.
OLD_INIT_RULE = {"ID": "csvf0j1a9k2d6qgk3m20", "Status": "Enabled", "Filter": {"Prefix": ""},
                 "Expiration": {"Days": 397}}
OPERATOR_TMP_RULE = {"ID": "operator-tmp-cleanup", "Status": "Enabled", "Filter": {"Prefix": "tmp/"},
                     "Expiration": {"Days": 7}}
OPERATOR_UPLOADS_RULE = {"ID": "operator-abort-uploads", "Status": "Enabled", "Filter": {"Prefix": ""},
                         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}


@pytest.fixture
def store(monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    with moto.mock_aws():
        yield S3ObjectStore(endpoint_url=None, access_key_id="testing", secret_access_key="testing",
                            region="us-east-1", documents_bucket=DOCS)


def rules(store) -> dict[str, dict]:
    got = store.client.get_bucket_lifecycle_configuration(Bucket=DOCS)["Rules"]
    return {r["ID"]: r for r in got}


def expiry_days(rule: dict) -> int | None:
    return rule.get("Expiration", {}).get("Days")


def with_rules(store, *given: dict) -> None:
    store.client.create_bucket(Bucket=DOCS)
    store.client.put_bucket_lifecycle_configuration(Bucket=DOCS, LifecycleConfiguration={"Rules": list(given)})


def test_a_new_bucket_gets_one_rule_of_398_days(store):
    store.ensure_buckets(DOCS, INBOX, LIFECYCLE_DAYS)
    assert {rid: (r["Status"], expiry_days(r)) for rid, r in rules(store).items()} == {
        LIFECYCLE_RULE_ID: ("Enabled", 398)}
    assert {b["Name"] for b in store.client.list_buckets()["Buckets"]} == {DOCS, INBOX}


def test_the_397_day_rule_an_earlier_minio_init_added_is_replaced_and_operator_rules_stay(store):
    with_rules(store, OLD_INIT_RULE, OPERATOR_TMP_RULE, OPERATOR_UPLOADS_RULE)
    with capture_logs() as logs:
        store.ensure_buckets(DOCS, INBOX, LIFECYCLE_DAYS)
    now = rules(store)
    assert set(now) == {LIFECYCLE_RULE_ID, OPERATOR_TMP_RULE["ID"], OPERATOR_UPLOADS_RULE["ID"]}
    assert expiry_days(now[LIFECYCLE_RULE_ID]) == 398
    assert expiry_days(now[OPERATOR_TMP_RULE["ID"]]) == 7
    assert now[OPERATOR_UPLOADS_RULE["ID"]]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 2}
    removed = [e for e in logs if e["event"] == "bucket_lifecycle_legacy_rule_removed"]
    assert [(e["rule_id"], e["expiration_days"]) for e in removed] == [(OLD_INIT_RULE["ID"], 397)]
    # the shortest whole-bucket expiry is now ours: no document goes before its last shown day
    whole = [expiry_days(r) for r in now.values() if expiry_days(r) and not r.get("Filter", {}).get("Prefix")]
    assert min(whole) == 398


def test_a_398_day_copy_minio_init_added_beside_ours_is_folded_into_ours(store):
    copy = {**OLD_INIT_RULE, "ID": "ct0a1b2c3d4e5f6g7h8i", "Expiration": {"Days": 398}}
    ours = {"ID": LIFECYCLE_RULE_ID, "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 398}}
    with_rules(store, copy, ours)
    store.ensure_buckets(DOCS, INBOX, LIFECYCLE_DAYS)
    assert list(rules(store)) == [LIFECYCLE_RULE_ID]


def test_an_operators_shorter_whole_bucket_rule_is_kept_and_reported_at_every_start(store):
    short = {"ID": "operator-90-days", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 90}}
    with_rules(store, short)
    for _ in range(2):  # the second start changes nothing and reports again
        with capture_logs() as logs:
            store.ensure_buckets(DOCS, INBOX, LIFECYCLE_DAYS)
        early = [e for e in logs if e["event"] == "bucket_lifecycle_rule_expires_documents_early"]
        assert [(e["log_level"], e["rule_id"], e["expiration_days"]) for e in early] == [
            ("error", "operator-90-days", 90)]
    assert {rid: expiry_days(r) for rid, r in rules(store).items()} == {"operator-90-days": 90,
                                                                        LIFECYCLE_RULE_ID: 398}


def test_a_disabled_or_prefixed_short_rule_is_not_reported(store):
    disabled = {**OLD_INIT_RULE, "ID": "operator-disabled", "Status": "Disabled", "Expiration": {"Days": 30}}
    with_rules(store, disabled, OPERATOR_TMP_RULE)
    with capture_logs() as logs:
        store.ensure_buckets(DOCS, INBOX, LIFECYCLE_DAYS)
    assert not [e for e in logs if e["event"] == "bucket_lifecycle_rule_expires_documents_early"]
    assert set(rules(store)) == {"operator-disabled", OPERATOR_TMP_RULE["ID"], LIFECYCLE_RULE_ID}


def test_an_unchanged_bucket_is_not_written_again(store):
    store.ensure_buckets(DOCS, INBOX, LIFECYCLE_DAYS)
    puts = []
    store.client.meta.events.register("before-call.s3.PutBucketLifecycleConfiguration",
                                      lambda **kw: puts.append(kw))
    store.ensure_buckets(DOCS, INBOX, LIFECYCLE_DAYS)
    assert puts == []
