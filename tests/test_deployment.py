"""prefect.yaml points at the real flow and schedules it at 02:00 London time."""

from pathlib import Path

import yaml

from flows.nightly import nightly


def test_deployment_names_the_nightly_flow_on_a_london_schedule() -> None:
    spec = yaml.safe_load((Path(__file__).parents[1] / "prefect.yaml").read_text())
    (deployment,) = spec["deployments"]
    module, name = deployment["entrypoint"].split(":")
    assert (module, name) == ("flows/nightly.py", nightly.fn.__name__)
    assert deployment["schedules"] == [{"cron": "0 2 * * *", "timezone": "Europe/London"}]
    assert spec["prefect-version"] == "3.8.8"
