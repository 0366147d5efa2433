# The README's first commands: `make demo` and `make test`. Both set up .venv/ first.
PYTHON := .venv/bin/python
DEMO_VIDEO := demo/Vid_05_Gloria73C_vc_sax_sax.mp4

.PHONY: setup demo test bench
setup:
	@bash scripts/setup.sh

# The demo detector knows these drawings exactly; the demo's sound comes from a SoundFont (TimGM6mb) that no
# training here used, on which the instrument tagger is weak (BENCHMARKS.md, "drawn demo videos"): the picture decides.
demo: setup
	$(PYTHON) -m pipelines.separate_video $(DEMO_VIDEO) --detector models/demo_detector.pt --presence-from video --out separated/demo --force
	@echo "demo: stems are in separated/demo/; open the report: separated/demo/report.html"

test: setup
	$(PYTHON) -m pytest -q

bench: setup
	$(PYTHON) benchmarks/report.py
