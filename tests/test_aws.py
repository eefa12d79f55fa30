"""The shared botocore session: its data loader loads what botocore's own loader loads."""
from __future__ import annotations

from pathlib import Path

import botocore.loaders
import botocore.session
import pytest
from botocore.exceptions import UnknownServiceError

from chalicelib import aws


@pytest.mark.parametrize("service, type_name", [("dynamodb", "service-2"), ("sqs", "service-2"),
                                                ("dynamodb", "endpoint-rule-set-1"), ("ssm", "paginators-1")])
def test_the_loader_loads_the_models_botocore_loads(service: str, type_name: str) -> None:
    ours = aws._loader(aws.session()).load_service_model(service, type_name)
    assert ours == botocore.loaders.create_loader().load_service_model(service, type_name)
    assert type(ours) is dict  # decoded without an OrderedDict per JSON object


def test_the_loader_loads_the_endpoints_botocore_loads() -> None:
    assert aws._loader(aws.session()).load_data("endpoints") == botocore.loaders.create_loader().load_data("endpoints")


def test_an_unknown_service_is_still_botocores_error() -> None:
    with pytest.raises(UnknownServiceError, match="dynamodbx"):
        aws._loader(aws.session()).load_service_model("dynamodbx", "service-2")


def test_a_data_path_still_adds_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "agentos-test" / "2030-01-01").mkdir(parents=True)
    (tmp_path / "agentos-test" / "2030-01-01" / "service-2.json").write_text('{"metadata": {"x": 1}}')
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    fresh = botocore.session.get_session()
    assert aws._loader(fresh).load_service_model("agentos-test", "service-2") == {"metadata": {"x": 1}}
