# Superset (included by the Makefile): its own venv, the bootstrap, screenshots.
# Variables and stamps follow the Makefile's pattern: the venv stamp is named after the
# requirement file's hash, so a second run with nothing changed is a no-op.

SUPERSET_VENV  := .venv-superset
SUPERSET_HASH  := $(shell cat requirements/superset.txt | sha256sum | cut -c1-16)
SUPERSET_STAMP := $(SUPERSET_VENV)/.finhouse-$(SUPERSET_HASH)
# Debian's chromium and its driver (headless browser tests, screenshots); the driver's
# path is the stamp.
CHROMEDRIVER   := /usr/bin/chromedriver

$(SUPERSET_STAMP): requirements/superset.txt
	@echo "==> installing Superset into $(SUPERSET_VENV) (first time: ~20 s, ~820 MB)"
	$(call venv_install,$(SUPERSET_VENV),requirements/superset.txt)
	@rm -f $(SUPERSET_VENV)/.finhouse-* && touch $@

# Never a prompt: sudo -n fails at once rather than asking for a password, and the frontend
# is set inside sudo (sudo drops the caller's environment) so debconf asks nothing.
APT_PACKAGES   := chromium chromium-driver

$(CHROMEDRIVER):
	@echo "==> installing system packages with apt-get: $(APT_PACKAGES) (headless browser tests; ~370 MB)"
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
			$(APT_PACKAGES) > /dev/null \
		|| { echo "could not install $(APT_PACKAGES): run make as root or with passwordless sudo, or install them first" >&2; exit 1; }

.PHONY: superset-install superset screenshots
superset-install: $(SUPERSET_STAMP) ## create .venv-superset (Superset 6.1) from the pins

superset: install db-up $(SUPERSET_STAMP) ## Superset: migrate, admin, roles, import the dashboards (idempotent)
	@$(VENV)/bin/python superset/run.py bootstrap

screenshots: superset $(CHROMEDRIVER) ## regenerate docs/screenshots/*.png (starts Superset on :8088 if it is not up)
	@$(VENV)/bin/python superset/run.py screenshots docs/screenshots

TEST_DEPS += $(SUPERSET_STAMP) $(CHROMEDRIVER)
UP_DEPS   += superset
