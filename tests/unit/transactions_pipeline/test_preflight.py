"""Launch checks of IAM permissions, which the emulators do not implement (they answer
UNIMPLEMENTED to testIamPermissions): the service's answers are played by stand-ins here. What
the emulators can answer (missing resources) is tested against them in tests/integration."""

from types import SimpleNamespace

import pytest
from google.api_core import exceptions as api_exceptions

from transactions_pipeline.options import ConfigError
from transactions_pipeline.preflight import SUBSCRIPTION_CONSUME, _require_permission

SUBSCRIPTION = "projects/my-project/subscriptions/transacoes-pipeline"


def answering(*permissions):
    return lambda: SimpleNamespace(permissions=list(permissions))


def raising(error):
    def call():
        raise error

    return call


NOT_ASKED = raising(AssertionError("existence is asked only where IAM is not implemented"))


def check(test_permissions, get_resource=NOT_ASKED):
    _require_permission(
        "--input_subscription",
        SUBSCRIPTION,
        SUBSCRIPTION_CONSUME,
        test_permissions,
        get_resource,
    )


def test_a_granted_permission_passes():
    check(answering(SUBSCRIPTION_CONSUME))


def test_a_missing_permission_names_the_parameter_the_permission_and_the_role():
    with pytest.raises(ConfigError) as caught:
        check(answering())
    assert str(caught.value) == (
        f"--input_subscription: the job's service account lacks pubsub.subscriptions.consume on {SUBSCRIPTION} "
        "(grant it roles/pubsub.subscriber)"
    )


def test_a_missing_resource_is_said_so():
    with pytest.raises(ConfigError, match=f"^--input_subscription: {SUBSCRIPTION} does not exist$"):
        check(raising(api_exceptions.NotFound("no such subscription")))


def test_where_iam_is_not_implemented_existence_is_checked_instead():
    check(raising(api_exceptions.MethodNotImplemented("emulator")), get_resource=lambda: None)
    with pytest.raises(ConfigError, match="does not exist"):
        check(raising(api_exceptions.MethodNotImplemented("emulator")), raising(api_exceptions.NotFound("gone")))


def test_any_other_failure_stops_the_launch_with_the_services_words():
    with pytest.raises(ConfigError, match=r"^--input_subscription: cannot check .*: quota"):
        check(raising(api_exceptions.ResourceExhausted("quota")))
