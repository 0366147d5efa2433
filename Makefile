# The README's first commands: `make demo` and `make test`. Both set up .venv/ first.
PYTHON := .venv/bin/python

.PHONY: setup demo test
setup:
	@bash scripts/setup.sh

demo: setup
	@echo "demo: setup is complete. The separation model and demo video have not landed yet"
	@echo "      (issues 4-7); try: $(PYTHON) -m pipelines.media_info <your video>"

test: setup
	$(PYTHON) -m pytest -q
