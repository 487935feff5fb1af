"""The forms of resource names: each accepts what the service accepts and refuses the rest."""

import re

import pytest

from transactions import resource_names


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        (
            "subscription",
            "projects/my-project/subscriptions/transacoes-pipeline",
            ["transacoes", "projects/my-project/topics/t1x", "projects/p/subscriptions/abc"],
        ),
        ("topic", "projects/my-project/topics/dead-letter", ["projects/my-project/subscriptions/x12", "dead-letter"]),
        ("bigtable_instance", "my-instance", ["My_Instance", "abc"]),
        ("bigtable_table", "transacoes", ["has space", ""]),
        ("project", "my-project-123", ["X", "my_project"]),
        ("column_family", "dados", ["a:b", ""]),
        ("app_profile", "", ["has space"]),
        (
            "gcs_path",
            "gs://my-bucket/sales/*.csv",
            ["s3://my-bucket/a.csv", "gs://My_Bucket/a.csv", "gs://my-bucket/", ""],
        ),
        (
            "container_image",
            "us-central1-docker.pkg.dev/my-project/dataflow/transacoes-template:v1.0.0",
            ["UPPER/x:1", "no-slash", "gcr.io/p/img@sha256:short", "gcr.io/p/img:"],
        ),
    ],
)
def test_forms_accept_valid_and_reject_invalid(kind, good, bad):
    assert resource_names.is_valid(kind, good)
    for value in bad:
        assert not resource_names.is_valid(kind, value), value


def test_every_form_has_a_description_and_compiles_in_re2_terms():
    assert set(resource_names.FORMS) == set(resource_names.DESCRIPTIONS)
    for form in resource_names.FORMS.values():
        assert not re.search(r"\(\?(<?[=!])|\\[1-9]", form.pattern)


def test_paths_and_their_parts():
    assert resource_names.topic_path("p-1234", "t") == "projects/p-1234/topics/t"
    assert resource_names.subscription_path("p-1234", "s") == "projects/p-1234/subscriptions/s"
    assert resource_names.table_path("p", "i", "t") == "projects/p/instances/i/tables/t"
    assert resource_names.project_of("projects/p-1234/topics/t") == "p-1234"
    assert resource_names.short_name("projects/p-1234/topics/t") == "t"
