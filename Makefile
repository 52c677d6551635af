# The course's commands. Each sets itself up: only python3 (3.10-3.13) and make are needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MODE   ?= standard

.PHONY: lab run test lint student clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

# JupyterLab refuses to start as root unless told; containers and lab images often run as root
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)  ## JupyterLab on the learner's notebooks (exercises unsolved)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ALLOW_ROOT)

run: $(STAMP)  ## every notebook (solved versions) headless; build/, results/ and the report
	ACCEL_MODE=$(MODE) $(BIN)/python -m tools.run_notebooks --out build --results results

lint: $(STAMP)  ## ruff on the package, the tools and the tests
	$(BIN)/python -m ruff check accel_utils tools tests

test: lint  ## lint, unit/structure/browser tests, then both versions of every notebook under nbval in smoke mode
	ACCEL_MODE=smoke $(BIN)/python -m pytest -p no:cacheprovider tests
	ACCEL_MODE=smoke ACCEL_RESULTS_DIR=build/smoke-results $(BIN)/python -m pytest -p no:cacheprovider \
		--nbval-lax --nbval-current-env --timeout=900 notebooks solutions

student: $(STAMP)  ## regenerate the learner's notebooks/ from the teacher's solutions/
	$(BIN)/python -m tools.make_student

clean:
	rm -rf build $(VENV)
