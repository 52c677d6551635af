# The course's three commands. Each sets itself up: only python3 (3.10-3.13) and make are needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MODE   ?= standard

.PHONY: lab run test report reference student clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (accel-course)" >/dev/null
	touch $(STAMP)

lab: $(STAMP)  ## JupyterLab on the course
	$(BIN)/jupyter lab --notebook-dir=notebooks

run: $(STAMP)  ## execute every notebook headless, write build/, results/ and the report
	ACCEL_MODE=$(MODE) $(BIN)/python tools/run_notebooks.py --out build --results results

test: $(STAMP)  ## unit tests, structure tests, every notebook under nbval in smoke mode
	ACCEL_MODE=smoke $(BIN)/python -m pytest tests
	ACCEL_MODE=smoke ACCEL_RESULTS_DIR=build/smoke-results $(BIN)/python -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider notebooks

clean:
	rm -rf build $(VENV)
