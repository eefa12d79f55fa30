"""The shared botocore session: its data loader loads what botocore's own loader loads."""
from __future__ import annotations

import json
import os
from pathlib import Path

import botocore.loaders
import botocore.session
import pytest
from botocore.exceptions import BotoCoreError, UnknownServiceError
from botocore.regions import EndpointResolver

from chalicelib.store import aws
from devtools import endpoints


@pytest.mark.parametrize("service, type_name", [("dynamodb", "service-2"), ("sqs", "service-2"),
                                                ("dynamodb", "endpoint-rule-set-1"), ("ssm", "paginators-1")])
def test_the_loader_loads_the_models_botocore_loads(service: str, type_name: str) -> None:
    ours = aws._loader(aws.session()).load_service_model(service, type_name)
    assert ours == botocore.loaders.create_loader().load_service_model(service, type_name)
    assert type(ours) is dict  # decoded without an OrderedDict per JSON object


def test_the_trimmed_endpoint_data_is_the_installed_botocores() -> None:
    shipped = json.loads(aws.ENDPOINTS_PATH.read_text())
    assert shipped == json.loads(endpoints.document()), "botocore changed: run python -m devtools.endpoints"


def test_the_loader_loads_the_trimmed_endpoint_data_as_botocores_own() -> None:
    loader = aws._loader(aws.session())
    data, path = loader.load_data_with_path("endpoints")
    assert data == endpoints.trimmed(botocore.loaders.create_loader().load_data("endpoints"))
    assert loader.is_builtin_path(path)  # else botocore lets legacy endpoints override the rules


def test_a_data_path_with_its_own_endpoints_keeps_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own = {"partitions": [], "version": 3}
    (tmp_path / "endpoints.json").write_text(json.dumps(own))
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    assert aws._loader(botocore.session.get_session()).load_data("endpoints") == own


def _resolvers() -> tuple[EndpointResolver, EndpointResolver]:
    full = botocore.loaders.create_loader().load_data("endpoints")
    return EndpointResolver(full, uses_builtin_data=True), EndpointResolver(endpoints.trimmed(full), True)


def test_endpoint_resolution_is_unchanged_for_the_services_the_lambdas_call() -> None:
    full, trimmed = _resolvers()
    assert trimmed.get_available_partitions() == full.get_available_partitions()
    regions = [r for p in full.get_available_partitions() for r in full.get_available_endpoints("ec2", p)]
    regions += ["us-east-9", "eu-future-1"]  # a region newer than the data still resolves alike
    assert len(regions) > 30
    for service in aws.SERVICES:
        for region in regions:
            for variant in ({}, {"use_fips_endpoint": True}, {"use_dualstack_endpoint": True}):
                assert _resolved(trimmed, service, region, variant) == _resolved(full, service, region, variant), \
                    (service, region, variant)


def _resolved(resolver: EndpointResolver, service: str, region: str, variant: dict[str, bool]) -> object:
    """The endpoint, or the error's kind and words (a variant some partitions lack)."""
    try:
        return resolver.construct_endpoint(service, region, **variant)
    except BotoCoreError as exc:
        return type(exc), str(exc)


@pytest.mark.parametrize("service", aws.SERVICES)
@pytest.mark.parametrize("region", ["us-east-1", "eu-west-3", "us-gov-west-1", "cn-north-1", "ap-southeast-7"])
def test_a_client_of_the_shared_session_has_botocores_endpoint(service: str, region: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    ours = aws.session().create_client(service, region_name=region)
    theirs = botocore.session.get_session().create_client(service, region_name=region)
    assert ours.meta.endpoint_url == theirs.meta.endpoint_url
    assert ours.meta.partition == theirs.meta.partition


def test_an_unknown_service_is_still_botocores_error() -> None:
    with pytest.raises(UnknownServiceError, match="dynamodbx"):
        aws._loader(aws.session()).load_service_model("dynamodbx", "service-2")


def test_a_data_path_still_adds_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "agentos-test" / "2030-01-01").mkdir(parents=True)
    (tmp_path / "agentos-test" / "2030-01-01" / "service-2.json").write_text('{"metadata": {"x": 1}}')
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    fresh = botocore.session.get_session()
    assert aws._loader(fresh).load_service_model("agentos-test", "service-2") == {"metadata": {"x": 1}}
