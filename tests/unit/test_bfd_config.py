"""neighbors[].bfd: validated like every key, carried into the gobgpd peer and its fingerprint."""

from __future__ import annotations

from typing import Any

import pytest

from durantic_agent.config import parse_config
from durantic_agent.desired import desired_peers
from durantic_agent.gobgp.speaker import _peer_msg

from .test_config import GOOD, errors_of, with_


def _peer(bfd: Any) -> Any:
    doc = with_("neighbors.0.bfd", bfd) if bfd is not None else GOOD
    (spec,) = desired_peers(parse_config(doc), {}).values()
    return spec


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"interval": "5ms"}, "neighbors[0].bfd.interval: '5ms' must be between 10ms and 60s"),
        ({"interval": "0.3005s"}, "neighbors[0].bfd.interval: '0.3005s' must be a whole number of milliseconds"),
        ({"interval": "soon"}, "neighbors[0].bfd.interval: 'soon' is not a duration"),
        ({"multiplier": 0}, "neighbors[0].bfd.multiplier: 0 must be greater than or equal to 1"),
        ({"multiplier": 256}, "neighbors[0].bfd.multiplier: 256 must be less than or equal to 255"),
        ({"echo": True}, "neighbors[0].bfd.echo: unknown key"),
        (True, "neighbors[0].bfd: True"),
    ],
)
def test_bad_bfd_is_one_error_naming_field_and_value(value: Any, message: str) -> None:
    errs = errors_of(with_("neighbors.0.bfd", value))
    assert len(errs) == 1 and errs[0].startswith(message), errs


def test_bfd_defaults_to_300ms_x3_in_microseconds() -> None:
    msg = _peer_msg(_peer({}), local_restarting=False)
    assert msg.HasField("bfd")
    assert msg.bfd.enabled
    assert (msg.bfd.desired_minimum_tx_interval, msg.bfd.required_minimum_receive) == (300_000, 300_000)
    assert msg.bfd.detection_multiplier == 3


def test_absent_bfd_is_off_and_a_change_changes_the_fingerprint() -> None:
    off, on, slower = _peer(None), _peer({}), _peer({"interval": "1s", "multiplier": 5})
    assert not _peer_msg(off, local_restarting=False).HasField("bfd")
    assert len({off.fingerprint(), on.fingerprint(), slower.fingerprint()}) == 3
    assert _peer_msg(slower, local_restarting=False).bfd.required_minimum_receive == 1_000_000
