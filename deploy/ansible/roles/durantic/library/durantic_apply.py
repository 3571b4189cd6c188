#!/usr/bin/python
"""Ansible module: `durantic apply -f FILE` against the running agent, reporting what changed.

`durantic apply` prints one line per object (created / configured / unchanged / pruned), so changed is
true when any line is not `unchanged`. Check mode runs `apply --dry-run` (validated by the agent, nothing
changed); diff mode shows `durantic diff -f FILE`.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped,unused-ignore]

DOCUMENTATION = r"""
module: durantic_apply
short_description: Apply a Durantic objects file (announcements, policy sets) to the running agent
description:
  - Runs C(durantic apply -f src) and reports changed when any object was created, configured or pruned.
  - In check mode runs C(durantic apply --dry-run -f src); with --diff shows C(durantic diff -f src).
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
results: {description: One line per object as `durantic apply` prints it., returned: success, type: list}
"""


def _run(module: AnsibleModule, argv: list[str], env: dict[str, str]) -> str:
    rc, out, err = module.run_command(argv, environ_update=env)
    if rc != 0:
        module.fail_json(msg=f"{' '.join(argv[1:])} failed (exit {rc}): {(err or out).strip()}")
    return str(out)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "src": {"type": "path", "required": True},
            "durantic": {"type": "path", "default": "durantic"},
            "socket": {"type": "path", "required": True},
            "prune": {"type": "bool", "default": False},
            "require_running": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    if not os.path.exists(p["socket"]):
        if module.check_mode:  # a fresh host: the agent is started by this run, then applies the file
            module.exit_json(changed=True, msg=f"agent not running (no {p['socket']}): would be applied")
        if p["require_running"]:
            module.fail_json(msg=f"the agent is not running: no socket at {p['socket']}")
        module.exit_json(changed=False, skipped=True, msg=f"agent not running (no {p['socket']}): not applied")
    env = {"DURANTIC_SOCKET": p["socket"]}
    prune = ["--prune"] if p["prune"] else []
    result: dict[str, Any] = {}
    if module._diff:
        text = _run(module, [p["durantic"], "diff", "-f", p["src"], *prune], env)
        if text.strip() != "no differences":
            result["diff"] = {"prepared": text}
    dry = ["--dry-run"] if module.check_mode else []
    lines = _run(module, [p["durantic"], "apply", *dry, "-f", p["src"], *prune], env).splitlines()
    changed = any(re.match(r"^\S+ (created|configured|pruned)\b", line) for line in lines)
    module.exit_json(changed=changed, results=lines, **result)


if __name__ == "__main__":
    main()
