#!/usr/bin/python
"""Ansible module: `durantic apply -f FILE` against the running agent, reporting whether anything changed.

`durantic apply` is idempotent but says nothing about change, so the module compares what
`durantic get -o json` prints before and after: changed=false on a second run with the same file.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped,unused-ignore]

DOCUMENTATION = r"""
module: durantic_apply
short_description: Apply a Durantic objects file (announcements, policy sets) to the running agent
description:
  - Runs C(durantic apply -f src) and reports changed only when the agent's objects differ afterwards.
options:
  src: {description: Objects YAML file on the managed host., type: path, required: true}
  durantic: {description: Path of the durantic CLI., type: path, default: durantic}
  socket: {description: The agent's API socket (DURANTIC_SOCKET)., type: path, required: true}
  prune: {description: Also delete objects that are not in src (C(durantic apply --prune))., type: bool, default: false}
  require_running:
    description: Fail when the socket is missing; otherwise skip with changed=false.
    type: bool
    default: true
author: [Durantic]
"""

EXAMPLES = r"""
- name: Apply objects
  durantic_apply:
    src: /etc/durantic/objects.yaml
    durantic: /opt/durantic/bin/durantic
    socket: /run/durantic/agent.sock
"""

RETURN = r"""
before: {description: Objects before the apply (as `durantic get -o json` prints them)., returned: success, type: raw}
after: {description: Objects after the apply., returned: success, type: raw}
"""


def _get(module: AnsibleModule, cli: str, env: dict[str, str]) -> Any:
    rc, out, err = module.run_command([cli, "get", "-o", "json"], environ_update=env)
    if rc != 0:
        module.fail_json(msg=f"durantic get -o json failed (exit {rc}): {(err or out).strip()}")
    try:
        return json.loads(out)
    except ValueError:
        module.fail_json(msg=f"durantic get -o json printed no JSON: {out[:200]!r}")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "src": {"type": "path", "required": True},
            "durantic": {"type": "path", "default": "durantic"},
            "socket": {"type": "path", "required": True},
            "prune": {"type": "bool", "default": False},
            "require_running": {"type": "bool", "default": True},
        },
        supports_check_mode=False,
    )
    p = module.params
    if not os.path.exists(p["socket"]):
        if p["require_running"]:
            module.fail_json(msg=f"the agent is not running: no socket at {p['socket']}")
        module.exit_json(changed=False, skipped=True, msg=f"agent not running (no {p['socket']}): not applied")
    env = {"DURANTIC_SOCKET": p["socket"]}
    before = _get(module, p["durantic"], env)
    argv = [p["durantic"], "apply", "-f", p["src"], *(["--prune"] if p["prune"] else [])]
    rc, out, err = module.run_command(argv, environ_update=env)
    if rc != 0:
        module.fail_json(msg=f"durantic apply -f {p['src']} failed (exit {rc}): {(err or out).strip()}")
    after = _get(module, p["durantic"], env)
    result: dict[str, Any] = {"changed": before != after, "before": before, "after": after}
    if module._diff:
        result["diff"] = {
            "before": json.dumps(before, indent=2, sort_keys=True) + "\n",
            "after": json.dumps(after, indent=2, sort_keys=True) + "\n",
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
